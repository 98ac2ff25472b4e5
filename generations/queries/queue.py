"""The local queue: each waiting job set's place in line, and the queue page's three lists."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from generations.lifecycle import queueing, send, timing
from generations.models import Attempt, JobSet, Team
from generations.queries import access
from generations.queries.gallery import STATUS_GROUPS
from generations.upstream import gateway


@dataclass(frozen=True)
class Place:
    """Where a waiting job set stands: its place in line (None while its team's queue is paused),
    why it waits, and roughly when it will go (None before there is history to go by)."""

    position: int | None
    reason: str
    estimate: str | None


def _job_sets(n: int) -> str:
    return f"{n} job set" if n == 1 else f"{n} job sets"


def _when(seconds: float) -> str:
    if seconds < 15:
        return "in a few seconds"
    if seconds < 60:
        return "in under a minute"
    return f"in about {round(seconds / 60)} min"


def places(job_sets: list[JobSet]) -> dict[int, Place]:
    """Place, reason and estimate of each waiting job set given, by id.

    The line is the one the sender takes: the same pure ``queueing.order`` over the same counts
    (send.in_flight_counts, send.team_rules), so the place shown is the place taken.
    """
    mine = [js for js in job_sets if js.status == JobSet.Status.WAITING]
    if not mine:
        return {}
    now = timezone.now()
    shares, paused = send.team_rules()
    by_user, by_team, total = send.in_flight_counts(now)
    cap = gateway.max_in_flight()
    rows = JobSet.objects.filter(status=JobSet.Status.WAITING).values_list(
        "id", "user_id", "team_id", "created_at"
    )
    waiting = [queueing.Waiting(*row) for row in rows]
    line = queueing.order(waiting, by_user, by_team, shares, paused)
    position = {item.id: index + 1 for index, item in enumerate(line)}
    gateway_paused = gateway.is_paused()
    paused_here = Team.objects.filter(pk__in={js.team_id for js in mine} & paused).select_related(
        "queue_paused_by"
    )
    pausers = {team.pk: team for team in paused_here}
    answer = {}
    for job_set in mine:
        place = position.get(job_set.pk)
        team = pausers.get(job_set.team_id)
        share = shares.get(job_set.team_id)
        if gateway_paused:
            reason = "Sending is paused: the gateway refused soulsite's key. An admin has to resume it."
        elif team is not None:
            who = team.queue_paused_by.get_username() if team.queue_paused_by else "a manager"
            when = timezone.localtime(team.queue_paused_at).strftime("%H:%M")
            reason = f"The team's queue is paused by {who} (since {when}): it waits until resumed."
        elif share is not None and by_team.get(job_set.team_id, 0) >= share:
            reason = f"The team's share is used: {_job_sets(share)} at a time, all with the gateway."
        elif total >= cap:
            reason = f"The in-flight limit is full: {_job_sets(cap)} at a time, all with the gateway."
        elif place is not None and place <= cap - total:
            reason = "There is room: it is about to be sent."
        else:
            reason = "Waiting for the ones ahead of it to be sent."
        estimate = None
        usual = timing.durations(job_set.quality, job_set.batch_size)
        if place is not None and usual is not None and not gateway_paused:
            # A rough guess: each round of ``cap`` sends takes about one typical job set's time.
            rounds = place / max(cap, 1) if total >= cap else (place - 1) / max(cap, 1)
            estimate = _when(rounds * usual.typical)
        answer[job_set.pk] = Place(place, reason, estimate)
    return answer


def queue_positions(job_sets: list[JobSet]) -> dict[int, int]:
    """Place in line (1 = next to be sent) of each waiting job set given (none while paused)."""
    return {pk: place.position for pk, place in places(job_sets).items() if place.position is not None}


@dataclass
class Queue:
    waiting: list[JobSet]  # oldest first
    places: dict[int, Place]  # of the waiting ones, by id
    flying: list[JobSet]  # sent first first, each with ``estimate``: seconds left, or None
    failed: list[JobSet]  # of the last week, newest first

    @property
    def pending(self) -> bool:
        return bool(self.waiting or self.flying)


def queue(user, team: Team | None) -> Queue:
    """What of ``team``'s work waits here, what is in flight (with an estimate), what failed lately."""
    mine = access.visible_job_sets(user).filter(team=team).select_related("user", "style")
    waiting = list(mine.filter(status=JobSet.Status.WAITING).order_by("created_at", "id"))
    flying = list(
        mine.filter(status__in=JobSet.IN_FLIGHT).select_related("slot_freed_by").order_by("sent_at", "id")
    )
    week_ago = timezone.now() - timedelta(days=7)
    failed = list(
        mine.filter(status__in=STATUS_GROUPS["failed"], created_at__gte=week_ago)
        .exclude(status=JobSet.Status.CANCELED)
        .order_by("-id")[:50]
    )
    now = timezone.now()
    for job_set in flying:
        usual = timing.durations(job_set.quality, job_set.batch_size)
        elapsed = (now - (job_set.sent_at or job_set.created_at)).total_seconds()
        job_set.estimate = None if usual is None else max(0, int(usual.typical - elapsed))
    where = places(waiting)
    # Shown in the order they will go (the fair line), those of a paused queue last.
    waiting.sort(key=lambda js: (where[js.pk].position is None, where[js.pk].position or 0, js.created_at))
    return Queue(waiting, where, flying, failed)


def people_actions(job_set: JobSet) -> list[Attempt]:
    """What people did to ``job_set`` from the queue (cancel, stop waiting, let go), oldest first."""
    return list(job_set.attempts.filter(kind=Attempt.Kind.QUEUE).order_by("at", "id"))
