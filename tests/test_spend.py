"""Spend: charge rules, totals by period and time zone, budgets that hold under races, page and CSV."""

from __future__ import annotations

import csv
import io
import re
import threading
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import close_old_connections, connection
from django.utils import timezone

from generations.actions import jobsets
from generations.ledger import budgets as spend
from generations.ledger import rollup as spend_days
from generations.lifecycle import poll, send
from generations.lifecycle.policy import charge_for
from generations.models import Budget, JobSet, Price, SpendDay
from generations.queries import spend_report
from generations.upstream import client as soul_client
from soulsandbox.server import SandboxConfig, SandboxServer
from tests.factories import make_job_set

Status, Charge = JobSet.Status, JobSet.Charge


@pytest.mark.parametrize(
    ("status", "jobs", "charge"),
    [
        (Status.COMPLETED, ["completed"], Charge.CHARGED),
        (Status.COMPLETED, ["completed", "failed", "failed", "nsfw"], Charge.CHARGED),  # a partial batch
        (Status.FAILED, ["failed"], Charge.RELEASED),
        (Status.FAILED, ["failed", "nsfw", "failed", "failed"], Charge.RELEASED),
        (Status.NSFW, ["nsfw"], Charge.RELEASED),
        (Status.CANCELED, ["canceled"], Charge.RELEASED),
        (Status.CANCELED, [], Charge.RELEASED),  # canceled before it was sent
        (Status.EXPIRED, ["in_progress"], Charge.RELEASED),
        (Status.FAILED, [], Charge.RELEASED),  # refused by the gateway
        (Status.UNCONFIRMED, [], Charge.RESERVED),  # may have been charged: a person settles it
        (Status.WAITING, [], Charge.RESERVED),
        (Status.IN_PROGRESS, ["completed", "in_progress"], Charge.RESERVED),
    ],
)
def test_the_charge_rule_for_every_state(status, jobs, charge):
    assert charge_for(status, jobs) == charge


@pytest.mark.django_db
def test_a_price_change_never_rewrites_history(alice):
    earlier = make_job_set(alice, quality="1080p", batch_size=4)
    Price.objects.create(
        quality="1080p", batch_size=4, amount=Decimal("0.40"), effective_from=timezone.localdate()
    )
    later = make_job_set(alice, quality="1080p", batch_size=4)
    earlier.refresh_from_db()
    assert (earlier.price, later.price) == (Decimal("0.37"), Decimal("0.40"))


def at(tz: str, *args) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(tz))


@pytest.mark.django_db
def test_totals_follow_the_sites_time_zone_across_a_month_boundary(alice, settings):
    settings.TIME_ZONE = "Pacific/Auckland"
    tz = "Pacific/Auckland"
    cases = [
        (at(tz, 2026, 10, 31, 23, 30), Decimal("0.37"), Charge.CHARGED),  # October, local time
        (at(tz, 2026, 11, 1, 0, 30), Decimal("0.25"), Charge.CHARGED),  # November (still October in UTC)
        (at(tz, 2026, 11, 15, 9, 0), Decimal("0.19"), Charge.RESERVED),  # today
        (at(tz, 2026, 11, 15, 10, 0), Decimal("0.15"), Charge.RELEASED),  # today, not counted
        (at(tz, 2026, 11, 14, 23, 59), Decimal("0.15"), Charge.CHARGED),  # yesterday
    ]
    for created, price, charge in cases:
        job_set = make_job_set(alice)
        JobSet.objects.filter(pk=job_set.pk).update(created_at=created, price=price, charge=charge)
    spend_days.rebuild()  # the rows were changed behind the services' back
    totals = spend.period_totals(user=alice, now=at(tz, 2026, 11, 15, 12, 0))
    assert totals["today"] == spend.Totals(Decimal("0.00"), Decimal("0.19"))
    assert totals["month"] == spend.Totals(Decimal("0.40"), Decimal("0.19"))  # 0.25 + 0.15, and 0.19
    assert totals["all"] == spend.Totals(Decimal("0.77"), Decimal("0.19"))

    report = spend_report.build({}, spend_report.Period(date(2026, 11, 1), date(2026, 11, 15)))
    assert report.totals.total == Decimal("0.59")
    by_day = {day: charged + reserved for day, charged, reserved in report.daily}
    assert by_day[date(2026, 11, 1)] == Decimal("0.25") and by_day[date(2026, 11, 15)] == Decimal("0.19")
    assert date(2026, 10, 31) not in by_day


@pytest.mark.django_db
def test_the_csv_adds_up_to_the_total_on_the_page(client, alice, team_a):
    client.force_login(alice)
    for quality, batch, charge in [
        ("720p", 1, Charge.CHARGED),
        ("1080p", 4, Charge.CHARGED),
        ("720p", 4, Charge.RESERVED),
        ("1080p", 1, Charge.RELEASED),
    ] * 7:
        job_set = make_job_set(alice, quality=quality, batch_size=batch)
        JobSet.objects.filter(pk=job_set.pk).update(charge=charge)
    spend_days.rebuild()  # the charges were set behind the services' back
    page = client.get("/spend/?days=30").content.decode()
    page_total = Decimal(re.search(r'id="period-total">\$([0-9.]+)<', page).group(1))
    assert page_total == Decimal("0.71") * 7  # 0.15 + 0.37 + 0.19; released ones are not counted
    response = client.get("/spend/export.csv?days=30")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 28
    assert sum(Decimal(row["counted"]) for row in rows) == page_total


@pytest.mark.django_db
def test_the_spend_page_breaks_spend_down_for_a_manager(client, alice, team_a, django_user_model):
    from generations.actions import teams

    carol = django_user_model.objects.create_user("carol")
    teams.add_member(team_a, carol, "manager")
    make_job_set(alice, quality="1080p", batch_size=4)
    make_job_set(carol, quality="720p", batch_size=1)
    client.force_login(carol)
    html = client.get("/spend/").content.decode()
    for text in (
        "By person",
        "alice",
        "carol",
        "By quality and batch",
        "1080p × 4",
        "720p × 1",
        "By style",
        "Spend per day",
        "<svg",
    ):
        assert text in html, text
    client.force_login(alice)  # a member sees their own spend only
    mine = client.get("/spend/?scope=team").content.decode()
    assert "carol" not in mine.split("By person")[1].split("</section>")[0]


# --- Budgets --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_submit_past_a_budget_is_refused_saying_which_how_much_and_what_it_costs(client, alice, team_a):
    Budget.objects.create(team=team_a, user=alice, monthly_limit=Decimal("1.00"))
    client.force_login(alice)
    spent = make_job_set(alice)
    JobSet.objects.filter(pk=spent.pk).update(price=Decimal("0.85"))
    fits = client.get("/generate/price/?quality=720p&batch_size=1").content.decode()
    assert "Generate · $0.15" in fits and "$0.15 left this month" in fits and "85% used" in fits  # warned
    over = client.get("/generate/price/?quality=1080p&batch_size=1").content.decode()
    assert (
        "Generate · $0.25" in over
        and "Over your monthly budget in Alpha: $0.15 left, this costs $0.25" in over
    )

    response = client.post(
        "/generate/",
        {"prompt": "one more", "width_and_height": "1536x2048", "quality": "1080p", "batch_size": "1"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    assert (
        "This would go over your monthly budget in Alpha: $0.15 is left of $1.00 this month, "
        "and this request costs $0.25."
    ) in response.content.decode()
    assert JobSet.objects.count() == 1


@pytest.mark.django_db
def test_the_team_budget_counts_everyone_and_released_spend_comes_back(alice, team_a, django_user_model):
    from generations.actions import teams

    carol = django_user_model.objects.create_user("carol")
    teams.add_member(team_a, carol)
    Budget.objects.create(team=team_a, monthly_limit=Decimal("0.40"))
    first = make_job_set(carol, quality="1080p", batch_size=4)  # 0.37
    with pytest.raises(spend.BudgetExceeded, match="Alpha's monthly budget"):
        make_job_set(alice)
    JobSet.objects.filter(pk=first.pk).update(charge=Charge.RELEASED)  # it failed: not charged
    make_job_set(alice)


@pytest.mark.django_db
def test_last_months_spend_does_not_count_against_this_month(alice, team_a):
    Budget.objects.create(team=team_a, monthly_limit=Decimal("0.20"))
    old = make_job_set(alice)
    JobSet.objects.filter(pk=old.pk).update(created_at=spend.month_start() - timedelta(seconds=1))
    make_job_set(alice)


@pytest.mark.django_db(transaction=True)
def test_people_racing_for_the_last_dollars_cannot_overrun_the_budget(alice, team_a):
    Budget.objects.create(team=team_a, monthly_limit=Decimal("1.00"))
    spent = make_job_set(alice, quality="1080p", batch_size=4)  # 0.37
    JobSet.objects.filter(pk=spent.pk).update(price=Decimal("0.70"))
    start = threading.Barrier(6)
    outcomes: list[str] = []

    def press_generate():
        close_old_connections()
        try:
            start.wait()
            make_job_set(alice)  # 0.15 each: only two fit in the 0.30 left
            outcomes.append("ok")
        except spend.BudgetExceeded:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=press_generate) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["ok", "ok", "refused", "refused", "refused", "refused"]
    assert spend.month_total(JobSet.objects.filter(team=team_a)).total == Decimal("1.00")


@pytest.mark.django_db
def test_a_manager_sets_budgets_and_the_change_is_recorded(client, alice, team_a, django_user_model):
    from generations.actions import teams

    carol = django_user_model.objects.create_user("carol")
    teams.add_member(team_a, carol, "manager")
    client.force_login(carol)
    client.post("/team/budgets/", {"team_budget": "25", f"budget_{alice.pk}": "$5.50"})
    assert Budget.objects.get(team=team_a, user=None).monthly_limit == Decimal("25.00")
    assert Budget.objects.get(team=team_a, user=alice).monthly_limit == Decimal("5.50")
    client.post("/team/budgets/", {"team_budget": "", f"budget_{alice.pk}": "6"})
    assert not Budget.objects.filter(team=team_a, user=None).exists()
    bad = client.post("/team/budgets/", {f"budget_{alice.pk}": "lots"}, follow=True)
    assert "is not an amount of dollars" in bad.content.decode()
    assert Budget.objects.get(user=alice).monthly_limit == Decimal("6.00")
    history = Budget.history.filter(user_id=alice.pk).order_by("history_date")
    assert [(h.history_type, h.monthly_limit, h.history_user) for h in history] == [
        ("+", Decimal("5.50"), carol),
        ("~", Decimal("6.00"), carol),
    ]


# --- The duplicate guard ------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_same_request_with_a_fixed_seed_offers_the_existing_images_first(client, alice):
    done = make_job_set(alice, prompt="a red kite", seed=42)
    JobSet.objects.filter(pk=done.pk).update(status=Status.COMPLETED, charge=Charge.CHARGED)
    client.force_login(alice)
    form = {
        "prompt": "a red kite",
        "width_and_height": "1536x2048",
        "quality": "720p",
        "batch_size": "1",
        "seed": "42",
        "style_strength": "",
    }
    offered = client.post("/generate/", form, HTTP_HX_REQUEST="true")
    assert offered.status_code == 409
    assert "already made this exact image" in offered.content.decode()
    assert JobSet.objects.count() == 1
    client.post("/generate/", {**form, "seed": "43"}, HTTP_HX_REQUEST="true")  # another seed: no question
    assert JobSet.objects.count() == 2
    client.post("/generate/", {**form, "confirm_duplicate": "1"}, HTTP_HX_REQUEST="true")  # go ahead anyway
    assert JobSet.objects.count() == 3


@pytest.mark.django_db
def test_submit_again_is_held_to_the_budget_too(client, alice, team_a):
    failed = make_job_set(alice)
    JobSet.objects.filter(pk=failed.pk).update(status=Status.FAILED, charge=Charge.RELEASED)
    Budget.objects.create(team=team_a, user=alice, monthly_limit=Decimal("0.10"))
    client.force_login(alice)
    response = client.post(f"/job-sets/{failed.pk}/submit-again/", follow=True)
    assert "This would go over your monthly budget" in response.content.decode()
    assert JobSet.objects.count() == 1


# --- The daily roll-up ------------------------------------------------------------------------


def roll_up() -> list[tuple]:
    fields = ["day", "team_id", "user_id", "charged", "reserved", "job_sets", "released"]
    fields += ["delivered_images", "kept_images"]
    return list(SpendDay.objects.order_by("day", "team_id", "user_id").values_list(*fields))


def assert_roll_up_is_exact() -> None:
    kept_up = roll_up()
    spend_days.rebuild()
    assert roll_up() == kept_up


@pytest.fixture
def instant_gateway(settings):
    """A sandbox that finishes every job at once, so the test drives tracking itself."""
    server = SandboxServer(SandboxConfig(queue_seconds=0, complete_seconds=0)).start()
    settings.SOUL_API_BASE_URL = server.url
    soul_client.reset_client()
    yield server
    server.stop()


def run_to_the_end(*job_sets: JobSet) -> None:
    send.send_waiting("test")
    for job_set in job_sets:
        for _ in range(5):
            JobSet.objects.filter(pk=job_set.pk).update(claimed_by="test")
            poll.track(job_set.pk, "test")
            job_set.refresh_from_db()
            if job_set.status in JobSet.TERMINAL:
                break
        assert job_set.status in JobSet.TERMINAL, job_set.status_reason


@pytest.mark.django_db
def test_the_roll_up_follows_every_operation_across_a_month_and_time_zone_boundary(
    client, admin_client, alice, settings, instant_gateway
):
    """After each step the kept-up roll-up equals one rebuilt from scratch (which also puts right
    anything a step missed, so each check looks at one step). Then the page, its CSV and sums
    worked out by hand agree."""
    tz = settings.TIME_ZONE = "Pacific/Auckland"
    # A and B fall on one UTC day (31 October) but on two local days, in two months.
    a = make_job_set(
        alice, prompt="a harbour", quality="1080p", batch_size=4, created_at=at(tz, 2026, 10, 31, 23, 30)
    )
    b = make_job_set(alice, prompt="partial", batch_size=4, created_at=at(tz, 2026, 11, 1, 0, 30))
    c = make_job_set(alice, prompt="this will fail", quality="1080p", created_at=at(tz, 2026, 11, 1, 9, 0))
    assert_roll_up_is_exact()
    assert spend.period_totals(user=alice)["all"] == spend.Totals(Decimal("0.00"), Decimal("0.81"))
    run_to_the_end(a, b, c)  # A completes (4 images), B partly (2 of 4), C fails: released
    assert_roll_up_is_exact()

    unconfirmed = make_job_set(alice, created_at=at(tz, 2026, 11, 1, 10, 0))
    JobSet.objects.filter(pk=unconfirmed.pk).update(  # its worker died mid-send
        status=Status.SENDING, claimed_by="gone", claimed_until=timezone.now() - timedelta(minutes=5)
    )
    send.recover_abandoned_sends()
    assert_roll_up_is_exact()
    admin_client.post(
        "/admin/generations/jobset/", {"action": "settle_charged", "_selected_action": [unconfirmed.pk]}
    )
    assert_roll_up_is_exact()
    Price.objects.create(
        quality="720p", batch_size=1, amount=Decimal("0.20"), effective_from=timezone.localdate()
    )
    make_job_set(alice, prompt="still waiting", created_at=at(tz, 2026, 11, 1, 11, 0))  # reserved, new price
    canceled = make_job_set(alice, created_at=at(tz, 2026, 11, 1, 12, 0))
    assert_roll_up_is_exact()
    jobsets.cancel_waiting(canceled)
    assert_roll_up_is_exact()
    stuck = make_job_set(alice, quality="1080p", created_at=at(tz, 2026, 11, 2, 8, 0))
    admin_client.post("/admin/generations/jobset/", {"action": "mark_failed", "_selected_action": [stuck.pk]})
    assert_roll_up_is_exact()

    client.force_login(alice)
    a_jobs = list(a.jobs.order_by("index"))
    b_delivered = list(b.jobs.filter(status="completed").order_by("index"))
    for keep in (
        lambda: client.post(f"/images/{a_jobs[0].pk}/star/"),  # kept
        lambda: client.post(f"/images/{a_jobs[1].pk}/star/"),
        lambda: client.post(f"/images/{a_jobs[1].pk}/star/"),  # and unstarred: not kept
        lambda: client.get(f"/images/{a_jobs[2].pk}/raw/?download=1"),  # downloaded full size: kept
        lambda: client.post("/bulk/", {"action": "star", "job": [job.pk for job in b.jobs.all()]}),
        lambda: client.post("/bulk/", {"action": "zip", "job": [b_delivered[0].pk]}),  # kept
        lambda: client.post("/bulk/", {"action": "unstar", "job": [job.pk for job in b_delivered]}),
    ):
        keep()
        assert_roll_up_is_exact()

    report = spend_report.build({"user": alice}, spend_report.Period(date(2026, 10, 31), date(2026, 11, 2)))
    assert report.totals == spend.Totals(Decimal("0.71"), Decimal("0.20"))  # 0.37 + 0.19 + 0.15, and 0.20
    assert (report.count, report.released, report.delivered_images, report.kept_images) == (7, 3, 6, 3)
    assert report.daily == [
        (date(2026, 10, 31), Decimal("0.37"), Decimal("0.00")),
        (date(2026, 11, 1), Decimal("0.34"), Decimal("0.20")),
        (date(2026, 11, 2), Decimal("0.00"), Decimal("0.00")),
    ]
    assert spend.period_totals(user=alice)["all"] == report.totals
    november = spend_report.build({"user": alice}, spend_report.Period(date(2026, 11, 1), date(2026, 11, 30)))
    assert november.totals.total == Decimal("0.54") and november.kept_images == 1
    assert (november.cost_per_image, november.cost_per_kept_image) == (Decimal("0.170"), Decimal("0.340"))

    for query, total in (
        ("from=2026-10-31&to=2026-11-02", "0.91"),
        ("from=2026-11-01&to=2026-11-30", "0.54"),
    ):
        page = client.get(f"/spend/?{query}").content.decode()
        assert re.search(r'id="period-total">\$([0-9.]+)<', page).group(1) == total
        rows = csv.DictReader(io.StringIO(client.get(f"/spend/export.csv?{query}").content.decode()))
        assert sum(Decimal(row["counted"]) for row in rows) == Decimal(total)


@pytest.mark.django_db(transaction=True)
def test_job_sets_settled_at_the_same_moment_are_all_counted(alice):
    job_sets = [make_job_set(alice) for _ in range(12)]
    start = threading.Barrier(6)

    def cancel(mine):
        close_old_connections()
        try:
            start.wait()
            for job_set in mine:
                jobsets.cancel_waiting(job_set)
        finally:
            connection.close()

    threads = [threading.Thread(target=cancel, args=(job_sets[n::6],)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert spend.period_totals(user=alice)["today"] == spend.Totals()  # every one released
    assert SpendDay.objects.get(user=alice).released == 12
    assert_roll_up_is_exact()


def test_the_spend_page_and_chip_make_as_many_queries_for_a_year_as_for_a_day(client, alice, team_a):
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    from generations.actions import teams
    from generations.models import Membership

    teams.add_member(team_a, alice, Membership.Role.MANAGER)
    client.force_login(alice)

    def seed(count: int) -> None:
        now = timezone.now()
        JobSet.objects.bulk_create(
            JobSet(
                user=alice,
                team=team_a,
                prompt=f"seeded {n}",
                width_and_height="1536x2048",
                quality="720p" if n % 2 else "1080p",
                batch_size=4 if n % 4 == 0 else 1,
                price="0.15",
                status=Status.COMPLETED,
                charge=Charge.CHARGED,
                created_at=now - timedelta(hours=29 * n),
            )
            for n in range(count)
        )
        spend_days.rebuild()

    def counted() -> list[int]:
        counts = []
        for url in ("/spend/", "/spend/?days=90", "/spend/?scope=mine", "/spend/chip/"):
            with CaptureQueriesContext(db) as captured:
                assert client.get(url, HTTP_HX_REQUEST="true" if "chip" in url else "").status_code == 200
            counts.append(len(captured))
        return counts

    seed(10)
    counted()  # the first request fills per-process caches (the session, content types)
    few = counted()
    seed(300)  # about a year more, every day holding some
    assert counted() == few


def test_the_chart_labels_its_first_day_from_the_left_edge_so_it_is_not_cut_off():
    first = date(2026, 10, 26)
    daily = [(first + timedelta(days=n), Decimal("0.19") * n, Decimal("0.00")) for n in range(30)]
    bars = spend_report.chart(daily)["bars"]
    assert bars[0]["label"] == "26 Oct" and bars[0]["label_anchor"] == "start" and bars[0]["label_x"] > 0
    labelled = [bar for bar in bars[1:] if bar["label"]]
    assert labelled and all(bar["label_anchor"] == "middle" for bar in labelled)
