"""The daily spend roll-up (SpendDay): why the spend page can be fast and still exact.

The spend page shows a period's totals, a bar per day, who spent what, the
images delivered and kept, and all-time totals. Read straight from job sets,
every view summed each job set of the period and of all time and counted their
images through the jobs table: with a busy team's year (100,000 job sets) that
took a quarter of a second on PostgreSQL, and it grows with history. One row
per local day, team and person holds the same numbers, so the page reads a few
hundred rows however long the history is.

A row is never nudged by a difference: ``refresh`` recomputes it from its own
job sets (one person's day in one team, a few hundred rows at most) inside the
transaction that changed them, so a missed or repeated call cannot leave an
error behind for the next one to build on. It is called wherever a job set's
charge, or its delivered or kept images, change: a job set created, finished,
ended early or canceled, an unconfirmed one settled, an image starred or
unstarred or downloaded full size. Stored images are counted when their job set
finishes, which every stored image leads to. Prices are snapshots taken at submission
(a new price never rewrites a job set), so they need no call of their own.

Two transactions refreshing one row take turns: the row is locked before its
job sets are read, and PostgreSQL (read committed) reads per statement, so the
second one sees what the first committed. SQLite writes one at a time anyway.

``rebuild`` recomputes every row with the same code. It is for writes that go
around the calls above: a bulk load (the bench seeder), the migration that made
the table, and ``manage.py soul_spend_rebuild`` after TIME_ZONE changes, since
days are days in TIME_ZONE and a new zone moves job sets between them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

from django.apps import apps as installed_apps
from django.db import connections, router, transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from generations.ledger.budgets import cents
from generations.models import Favourite, Job, JobSet, SpendDay

Key = tuple[date, int | None, int]  # (day in TIME_ZONE, team id, user id)
CHARGED = Q(charge=JobSet.Charge.CHARGED)
RESERVED = Q(charge=JobSet.Charge.RESERVED)
RELEASED = Q(charge=JobSet.Charge.RELEASED)
DELIVERED = Q(status=Job.COMPLETED) & ~Q(image="")
INSERT_BATCH = 2000


def refresh(job_set: JobSet) -> None:
    """Recompute the row ``job_set`` counts in; call in the transaction that changed it."""
    refresh_keys([_key(job_set.created_at, job_set.team_id, job_set.user_id)])


def refresh_for_jobs(jobs: QuerySet[Job] | Iterable[int]) -> None:
    """Recompute the rows of these images' job sets (after stars or full-size downloads)."""
    job_sets = JobSet.objects.filter(pk__in=Job.objects.filter(pk__in=jobs).values("job_set_id"))
    refresh_keys({_key(*row) for row in job_sets.values_list("created_at", "team_id", "user_id")})


def refresh_keys(keys: Iterable[Key]) -> None:
    # One order for every caller, so two callers refreshing several rows never wait on each other in a ring.
    with transaction.atomic():
        for key in sorted(keys, key=lambda k: (k[0], k[1] or 0, k[2])):
            _refresh(key)


def rebuild(apps=installed_apps) -> int:
    """Recompute every row from job sets; returns how many rows there are.

    ``apps`` is the app registry to take the models from: a migration passes its own.
    """
    models = {
        name: apps.get_model("generations", name) for name in ("JobSet", "Job", "Favourite", "SpendDay")
    }
    spend_day = models["SpendDay"]
    with transaction.atomic():
        _lock_table(spend_day)
        sums = _sums(models["JobSet"].objects.all(), models["Job"].objects, models["Favourite"].objects)
        spend_day.objects.all().delete()
        spend_day.objects.bulk_create(
            (
                spend_day(day=day, team_id=team_id, user_id=user_id, **values)
                for (day, team_id, user_id), values in sums.items()
            ),
            batch_size=INSERT_BATCH,
        )
    return len(sums)


def _key(created_at: datetime, team_id: int | None, user_id: int) -> Key:
    return timezone.localdate(created_at), team_id, user_id


def _refresh(key: Key) -> None:
    day, team_id, user_id = key
    row = SpendDay.objects.filter(day=day, team_id=team_id, user_id=user_id)
    if not row.select_for_update().exists():
        # A new row: another transaction inserting it too makes this one wait, then do nothing.
        SpendDay.objects.bulk_create(
            [SpendDay(day=day, team_id=team_id, user_id=user_id)], ignore_conflicts=True
        )
        row.select_for_update().exists()
    start = timezone.make_aware(datetime.combine(day, time.min))
    end = timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min))
    job_sets = JobSet.objects.filter(
        team_id=team_id, user_id=user_id, created_at__gte=start, created_at__lt=end
    )
    values = _sums(job_sets, Job.objects, Favourite.objects).get(key)
    if values:
        row.update(**values)
    else:
        row.delete()


def _sums(job_sets: QuerySet, jobs, favourites) -> dict[Key, dict]:
    """The roll-up's numbers for these job sets, by day, team and person: two grouped queries."""
    zone = timezone.get_current_timezone()
    sums: dict[Key, dict] = {}
    by_day = (
        job_sets.annotate(day=TruncDate("created_at", tzinfo=zone))
        .values("day", "team_id", "user_id")
        .annotate(
            charged=Sum("price", filter=CHARGED),
            reserved=Sum("price", filter=RESERVED),
            job_sets=Count("id"),
            released=Count("id", filter=RELEASED),
        )
    )
    for row in by_day:
        sums[(row["day"], row["team_id"], row["user_id"])] = {
            "charged": cents(row["charged"]),
            "reserved": cents(row["reserved"]),
            "job_sets": row["job_sets"],
            "released": row["released"],
            "delivered_images": 0,
            "kept_images": 0,
        }
    starred = Exists(favourites.filter(job=OuterRef("pk")))
    images = (
        jobs.filter(DELIVERED, job_set__in=job_sets)
        .annotate(day=TruncDate("job_set__created_at", tzinfo=zone))
        .values("day", "job_set__team_id", "job_set__user_id")
        .annotate(delivered=Count("id"), kept=Count("id", filter=Q(kept_at__isnull=False) | Q(starred)))
    )
    for row in images:
        values = sums[(row["day"], row["job_set__team_id"], row["job_set__user_id"])]
        values["delivered_images"], values["kept_images"] = row["delivered"], row["kept"]
    return sums


def _lock_table(spend_day) -> None:
    """Hold back refreshes until the rebuild commits, so none is lost between its read and its write."""
    connection = connections[router.db_for_write(spend_day)]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"LOCK TABLE {connection.ops.quote_name(spend_day._meta.db_table)} IN EXCLUSIVE MODE"
            )
