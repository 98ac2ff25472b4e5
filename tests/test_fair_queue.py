"""The fair queue: the pure pick-next rule in tables, then the sender and the bound on stuck that use it."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from generations.lifecycle import queueing, send, stuck, timing, tracker
from generations.lifecycle.queueing import Waiting
from generations.models import Attempt, JobSet, Team
from tests.factories import make_job_set

Status = JobSet.Status
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def w(id: int, user: int, team: int | None = 1, minute: int | None = None) -> Waiting:
    """A waiting job set; its age follows its id unless a minute is given."""
    return Waiting(id, user, team, T0 + timedelta(minutes=id if minute is None else minute))


def pick(waiting, by_user=None, by_team=None, total=0, cap=4, shares=None, paused=frozenset()):
    chosen = queueing.pick_next(waiting, by_user or {}, by_team or {}, total, cap, shares or {}, paused)
    return chosen.id if chosen else None


# --- The rule, as a table ---------------------------------------------------------------------

FAIRNESS = [
    # (what, waiting, in flight per person, per team, expected pick)
    ("oldest first when nobody has any in flight", [w(1, 10), w(2, 20)], {}, {}, 1),
    ("the person with fewest in flight goes first", [w(1, 10), w(2, 20)], {10: 2, 20: 1}, {1: 3}, 2),
    ("the oldest of that person, not their newest", [w(3, 20), w(2, 20), w(1, 10)], {10: 1}, {1: 1}, 2),
    (
        "a tie between people goes to the team with fewest in flight",
        [w(1, 10, team=1), w(2, 20, team=2)],
        {10: 1, 20: 1},
        {1: 3, 2: 1},
        2,
    ),
    (
        "a tie between people and teams goes to the oldest",
        [w(2, 10, team=1), w(1, 20, team=2)],
        {10: 1, 20: 1},
        {1: 1, 2: 1},
        1,
    ),
    ("same age: the lower id", [w(2, 10, minute=0), w(1, 20, minute=0)], {}, {}, 1),
    ("a job set with no team still goes", [w(1, 10, team=None)], {}, {}, 1),
    ("nothing waiting: nothing to pick", [], {}, {}, None),
]


@pytest.mark.parametrize(
    ("what", "waiting", "by_user", "by_team", "expected"), FAIRNESS, ids=[r[0] for r in FAIRNESS]
)
def test_the_next_job_set_is_the_oldest_of_the_person_with_fewest_in_flight(
    what, waiting, by_user, by_team, expected
):
    assert pick(waiting, by_user, by_team) == expected


SHARES_AND_PAUSES = [
    # (what, waiting, per person, per team, shares, paused, expected)
    (
        "a team at its share is skipped for another team's",
        [w(1, 10, 1), w(2, 20, 2)],
        {10: 2},
        {1: 2},
        {1: 2},
        set(),
        2,
    ),
    (
        "a team below its share goes",
        [w(1, 10, 1), w(2, 20, 2)],
        {10: 1, 20: 1},
        {1: 1, 2: 2},
        {1: 2},
        set(),
        1,
    ),
    ("a share of none is the whole limit", [w(1, 10, 1)], {10: 3}, {1: 3}, {1: None}, set(), 1),
    ("every team at its share: nothing goes", [w(1, 10, 1)], {10: 1}, {1: 1}, {1: 1}, set(), None),
    ("a paused team is skipped", [w(1, 10, 1), w(2, 20, 2)], {}, {}, {}, {1}, 2),
    ("only paused teams wait: nothing goes", [w(1, 10, 1)], {}, {}, {}, {1}, None),
]


@pytest.mark.parametrize(
    ("what", "waiting", "by_user", "by_team", "shares", "paused", "expected"),
    SHARES_AND_PAUSES,
    ids=[r[0] for r in SHARES_AND_PAUSES],
)
def test_team_shares_and_paused_queues_are_skipped(what, waiting, by_user, by_team, shares, paused, expected):
    assert (
        pick(waiting, by_user, by_team, total=sum(by_user.values()), shares=shares, paused=paused) == expected
    )


CAP = [
    # (what, total in flight, cap, expected)
    ("below the limit one goes", 3, 4, 1),
    ("at the limit none goes", 4, 4, None),
    ("over the limit (a lowered cap) none goes", 5, 3, None),
]


@pytest.mark.parametrize(("what", "total", "cap", "expected"), CAP, ids=[r[0] for r in CAP])
def test_nothing_goes_while_the_whole_limit_is_in_use(what, total, cap, expected):
    assert pick([w(1, 10)], total=total, cap=cap) == expected


def test_one_person_with_forty_waiting_does_not_hold_back_a_teammate_for_more_than_two_picks():
    waiting = [w(n, 10) for n in range(1, 41)] + [w(41, 20)]
    by_user: dict[int, int] = {}
    by_team: dict[int, int] = {}
    taken = []
    for _ in range(2):
        chosen = queueing.pick_next(waiting, by_user, by_team, len(taken), 4, {}, set())
        taken.append(chosen.id)
        waiting.remove(chosen)
        by_user[chosen.user_id] = by_user.get(chosen.user_id, 0) + 1
        by_team[chosen.team_id] = by_team.get(chosen.team_id, 0) + 1
    assert 41 in taken


def test_the_line_is_the_order_pick_next_would_take_it():
    waiting = [w(1, 10), w(2, 10), w(3, 10), w(4, 20), w(5, 30, team=2), w(6, 40, team=3)]
    line = queueing.order(waiting, {}, {}, {2: 0}, {3})
    # Alternating people; team 2 at its share of none goes last; paused team 3 has no place.
    assert [item.id for item in line] == [1, 4, 2, 3, 5]
    # Taking them one at a time with pick_next gives the same line.
    by_user: dict = {}
    by_team: dict = {}
    rest = [item for item in waiting if item.team_id != 3 and item.team_id != 2]
    taken = []
    while (chosen := queueing.pick_next(rest, by_user, by_team, 0, 99, {}, set())) is not None:
        taken.append(chosen.id)
        rest.remove(chosen)
        by_user[chosen.user_id] = by_user.get(chosen.user_id, 0) + 1
        by_team[chosen.team_id] = by_team.get(chosen.team_id, 0) + 1
    assert taken == [item.id for item in line[:4]]


@pytest.mark.parametrize("seed", range(30))
def test_the_line_is_pick_next_taken_again_and_again_for_any_mix_of_people_teams_shares_and_pauses(seed):
    rng = random.Random(seed)
    waiting = [
        queueing.Waiting(
            n,
            rng.randrange(6),
            rng.choice([None, 1, 2, 3]),
            T0 + timedelta(seconds=rng.randrange(40)),  # equal ages too: the id decides
        )
        for n in range(rng.randrange(1, 120))
    ]
    by_user = {user: rng.randrange(3) for user in range(6) if rng.random() < 0.5}
    by_team = {team: rng.randrange(4) for team in (None, 1, 2, 3) if rng.random() < 0.5}
    shares = {team: rng.randrange(1, 12) for team in (1, 2, 3) if rng.random() < 0.4}
    paused = {team for team in (1, 2, 3) if rng.random() < 0.2}
    line = [item.id for item in queueing.order(waiting, by_user, by_team, shares, paused)]
    # The sender's own rule, one pick at a time; what it never takes (a team at its share) goes
    # last, oldest first; a paused team's have no place.
    rest, users, teams, taken = list(waiting), dict(by_user), dict(by_team), []
    while (chosen := queueing.pick_next(rest, users, teams, 0, 10**6, shares, paused)) is not None:
        taken.append(chosen.id)
        rest.remove(chosen)
        users[chosen.user_id] = users.get(chosen.user_id, 0) + 1
        teams[chosen.team_id] = teams.get(chosen.team_id, 0) + 1
    held = sorted((item for item in rest if item.team_id not in paused), key=lambda i: (i.created_at, i.id))
    assert line == taken + [item.id for item in held]


BOUND = [
    # (what, seconds in flight, recent 90th percentile, minimum, past the bound)
    ("no history: the minimum", 181, None, 180, True),
    ("no history, before the minimum", 179, None, 180, False),
    ("quick kind: the minimum still holds", 100, 10.0, 180, False),
    ("slow kind: four times its slowest tenth", 200, 60.0, 180, False),
    ("slow kind, past four times", 241, 60.0, 180, True),
]


@pytest.mark.parametrize(("what", "elapsed", "late", "minimum", "past"), BOUND, ids=[r[0] for r in BOUND])
def test_the_bound_on_stuck_is_the_larger_of_three_minutes_and_four_times_the_slowest_tenth(
    what, elapsed, late, minimum, past
):
    assert stuck.is_past_bound(elapsed, late, minimum) is past


def test_a_pick_over_ten_thousand_waiting_takes_milliseconds():
    waiting = [w(n, n % 50, team=n % 5) for n in range(10_000)]
    started = time.perf_counter()
    assert queueing.pick_next(waiting, {}, {}, 0, 4, {}, set()) is not None
    assert time.perf_counter() - started < 0.5


# --- The sender uses it ------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_learned_durations():
    # The bound follows recent completion times, cached for 30 s: an earlier test's would linger.
    timing.forget_typical()
    yield
    timing.forget_typical()


@pytest.fixture
def carol(django_user_model, team_a):
    """Alice's teammate."""
    from generations.actions import teams

    user = django_user_model.objects.create_user("carol", password="carol-password-1")
    teams.add_member(team_a, user)
    return user


def _ages(*job_sets):
    """Make the given job sets due and one second apart in age, in the order given."""
    start = timezone.now() - timedelta(minutes=10)
    for n, job_set in enumerate(job_sets):
        JobSet.objects.filter(pk=job_set.pk).update(created_at=start + timedelta(seconds=n))


@pytest.mark.django_db(transaction=True)
def test_a_teammate_s_one_goes_second_behind_a_person_with_forty_waiting(alice, carol, settings):
    settings.SOUL_MAX_IN_FLIGHT = 2
    many = [make_job_set(alice, prompt=f"forever {n}") for n in range(40)]
    one = make_job_set(carol, prompt="forever one")
    _ages(*many, one)

    assert send.send_waiting("test", limit=2) == 2

    sent = set(JobSet.objects.exclude(status=Status.WAITING).values_list("pk", flat=True))
    assert sent == {many[0].pk, one.pk}


@pytest.mark.django_db(transaction=True)
def test_a_paused_team_or_one_at_its_share_waits_while_others_go(alice, bob, carol, settings, team_a):
    settings.SOUL_MAX_IN_FLIGHT = 4
    Team.objects.filter(pk=team_a.pk).update(max_in_flight=1)
    first, second = make_job_set(alice, prompt="forever a"), make_job_set(carol, prompt="forever c")
    other = make_job_set(bob, prompt="forever b")
    _ages(first, second, other)

    assert send.send_waiting("test", limit=4) == 2  # Alpha's share is one: Bravo's goes instead
    assert JobSet.objects.get(pk=second.pk).status == Status.WAITING
    assert send.in_flight_count() == 2

    Team.objects.filter(pk=team_a.pk).update(max_in_flight=None, queue_paused_at=timezone.now())
    assert send.send_waiting("test", limit=4) == 0
    Team.objects.filter(pk=team_a.pk).update(queue_paused_at=None)
    assert send.send_waiting("test", limit=4) == 1


@pytest.mark.django_db(transaction=True)
def test_a_freed_slot_no_longer_counts_against_the_limit(alice, carol, settings):
    settings.SOUL_MAX_IN_FLIGHT = 1
    stuck_one, waiting = make_job_set(alice, prompt="forever"), make_job_set(carol, prompt="forever too")
    _ages(stuck_one, waiting)
    assert send.send_waiting("test") == 1
    assert send.send_waiting("test") == 0
    JobSet.objects.filter(pk=stuck_one.pk).update(slot_freed_at=timezone.now())
    assert send.in_flight_count() == 0
    assert send.send_waiting("test") == 1


@pytest.mark.django_db(transaction=True)
def test_a_job_set_past_the_bound_gives_its_slot_back_and_a_teammate_s_goes(alice, carol, settings):
    settings.SOUL_MAX_IN_FLIGHT = 1
    settings.SOUL_STUCK_MIN_SECONDS = 1
    never = make_job_set(alice, prompt="this one runs forever")
    teammate = make_job_set(carol, prompt="a quick one")
    _ages(never, teammate)
    assert send.send_waiting("test") == 1
    assert stuck.free_stuck_slots() == []  # not yet past the bound

    time.sleep(1.2)
    assert stuck.free_stuck_slots() == [never.pk]
    never.refresh_from_db()
    assert never.is_taking_long and never.slot_freed_by is None
    note = Attempt.objects.get(job_set=never, kind=Attempt.Kind.QUEUE)
    assert "gave its slot back after 1 minute: taking unusually long" in note.asked
    # Still polled, but slowly.
    assert timing.next_poll_delay(never, timezone.now()) >= timing.FREED_POLL_GAP

    assert send.send_waiting("test") == 1
    assert JobSet.objects.get(pk=teammate.pk).status != Status.WAITING
    assert stuck.free_stuck_slots() == []  # once only


@pytest.mark.django_db(transaction=True)
def test_five_job_sets_that_never_finish_do_not_keep_a_teammate_from_its_image(alice, carol, settings):
    # Done when: with five of one person's job sets never finishing upstream, a teammate's job set
    # sent afterwards shows its image within about three minutes (here the bound is two seconds).
    settings.SOUL_MAX_IN_FLIGHT = 4
    settings.SOUL_STUCK_MIN_SECONDS = 2
    never = [make_job_set(alice, prompt=f"forever {n}") for n in range(5)]
    assert send.send_waiting("test", limit=5) == 4  # the whole limit: the fifth waits
    teammate = make_job_set(carol, prompt="a cat")

    tracker.run(max_seconds=12)

    teammate.refresh_from_db()
    assert teammate.status == Status.COMPLETED and teammate.charge == JobSet.Charge.CHARGED
    # The bound (2 s) plus the sandbox's 1.3 s and a poll or two: far inside the tracker's 12 s.
    assert (teammate.finished_at - teammate.created_at).total_seconds() < 8
    # The stuck ones are still with the gateway, still tracked, and no longer hold a slot.
    assert all(js.status in JobSet.POLLED for js in JobSet.objects.filter(pk__in=[j.pk for j in never[:4]]))
    assert JobSet.objects.filter(pk__in=[j.pk for j in never], slot_freed_at__isnull=False).count() >= 4


@pytest.mark.django_db(transaction=True)
def test_a_job_set_that_gave_its_slot_back_is_still_charged_when_it_finishes(
    alice, carol, settings, faults, monkeypatch
):
    settings.SOUL_MAX_IN_FLIGHT = 1
    settings.SOUL_STUCK_MIN_SECONDS = 1
    faults(complete_seconds=4.0)
    monkeypatch.setattr(timing, "FREED_POLL_GAP", 0.5)
    slow = make_job_set(alice, prompt="a slow one")
    teammate = make_job_set(carol, prompt="a quick one")
    _ages(slow, teammate)

    tracker.run(max_seconds=20)

    slow.refresh_from_db()
    teammate.refresh_from_db()
    assert slow.slot_freed_at is not None  # it gave its slot back on the way
    assert slow.status == Status.COMPLETED and slow.charge == JobSet.Charge.CHARGED
    assert teammate.status == Status.COMPLETED
    # The teammate's went while the slow one was still running.
    assert teammate.sent_at < slow.finished_at


# --- The line's heads, read in index seeks --------------------------------------------------


def _heads_by_hand(now, paused):
    """The same answer the slow way: every waiting row, grouped in Python."""
    oldest = {}
    for row in JobSet.objects.filter(status=Status.WAITING).values_list(
        "id", "user_id", "team_id", "created_at", "due_at"
    ):
        pk, user_id, team_id, created_at, due_at = row
        if team_id in paused or due_at is None or due_at > now:
            continue
        key = (user_id, team_id)
        if key not in oldest or (created_at, pk) < (oldest[key].created_at, oldest[key].id):
            oldest[key] = Waiting(pk, user_id, team_id, created_at)
    return sorted(oldest.values(), key=lambda item: item.id)


@pytest.mark.django_db
@pytest.mark.parametrize("seed", range(4))
def test_the_heads_of_the_line_are_each_person_s_oldest_due_per_team(seed, django_user_model):
    import random

    from generations.lifecycle import line

    rng = random.Random(seed)
    teams = [Team.objects.create(name=f"line {seed} {n}") for n in range(3)]
    people = [django_user_model.objects.create_user(f"line-{seed}-{n}") for n in range(6)]
    now = timezone.now()
    for n in range(120):
        person = rng.choice(people)
        job_set = make_job_set(person, prompt=f"line {n}")
        status = rng.choice([Status.WAITING] * 4 + [Status.SUBMITTED, Status.COMPLETED])
        JobSet.objects.filter(pk=job_set.pk).update(
            status=status,
            # Several teams per person, and some with none.
            team=rng.choice([*teams, None]),
            created_at=now - timedelta(seconds=rng.randrange(0, 50)),  # ties in age too
            due_at=now + timedelta(seconds=rng.choice([-60, -1, 30])),
        )
    paused = {teams[0].pk} if seed % 2 else set()

    got = sorted(line.heads(now, paused), key=lambda item: item.id)

    assert got == _heads_by_hand(now, paused)
    assert got, "the data should have some heads"
