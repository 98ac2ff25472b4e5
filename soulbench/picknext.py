"""Pick-next: the time the sender takes to choose and claim the next job set, at 10, 1,000 and 10,000 waiting.

The fair line reads one row per person and team, not one per job set (see
``generations.lifecycle.line``), so a pick should take about as long
with 10,000 waiting as with 10. Measured end to end on this database:
``send.claim_next`` with its lock, counts, line and conditional UPDATE. After each
pick the chosen one is put back (untimed), so every pick sees the same line. Its
own 50 people and job sets are removed afterwards, so the rest of the run sees none.
"""

from __future__ import annotations

import random
import statistics
import time
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from generations.lifecycle import send
from generations.models import JobSet, Price, Team

PEOPLE = 50
TEAMS = 5
SIZES = (10, 1_000, 10_000)
IN_FLIGHT = 3  # a few already with the gateway, of the first people, so counts are not all zero
PICKS = 200


def measure(rng: random.Random, picks: int = PICKS) -> dict:
    users, teams = _people()
    results = {}
    try:
        for size in SIZES:
            _seed(users, teams, size, rng)
            results[str(size)] = _time_picks(picks)
            JobSet.objects.filter(user__in=users).delete()
    finally:
        JobSet.objects.filter(user__in=users).delete()
        get_user_model().objects.filter(pk__in=[user.pk for user in users]).delete()
        Team.objects.filter(pk__in=[team.pk for team in teams]).delete()
    return results


def _people():
    teams = [Team.objects.create(name=f"pick-next bench {n}") for n in range(TEAMS)]
    model = get_user_model()
    users = [model.objects.create(username=f"pick-next-{n}") for n in range(PEOPLE)]
    for n, user in enumerate(users):
        user.team = teams[n % TEAMS]
    return users, teams


def _seed(users, teams, size: int, rng: random.Random) -> None:
    price = Price.current("720p", 1)
    now = timezone.now()
    rows = []
    for n in range(size + IN_FLIGHT):
        user = users[n % PEOPLE] if n >= IN_FLIGHT else users[n]
        flying = n < IN_FLIGHT
        rows.append(
            JobSet(
                user=user,
                team=user.team,
                prompt=f"pick-next {n}",
                width_and_height="1536x1536",
                quality="720p",
                batch_size=1,
                price=price,
                status=JobSet.Status.SUBMITTED if flying else JobSet.Status.WAITING,
                created_at=now - timedelta(seconds=size - n + rng.random()),
                sent_at=now if flying else None,
                due_at=now + timedelta(minutes=5) if flying else now - timedelta(seconds=1),
            )
        )
    with transaction.atomic():
        JobSet.objects.bulk_create(rows, batch_size=1000)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE generations_jobset")


def _time_picks(picks: int) -> dict:
    cap = settings.SOUL_MAX_IN_FLIGHT
    settings.SOUL_MAX_IN_FLIGHT = IN_FLIGHT + 1  # one slot free: every pick has one to fill
    times, queries = [], []
    try:
        for _ in range(picks):
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                job_set = send.claim_next("bench")
                times.append(time.perf_counter() - started)
            queries.append(len(captured))
            assert job_set is not None, "pick-next found nothing to send"
            JobSet.objects.filter(pk=job_set.pk).update(
                status=JobSet.Status.WAITING, sent_at=None, claimed_by="", claimed_until=None
            )
    finally:
        settings.SOUL_MAX_IN_FLIGHT = cap
    times.sort()
    return {
        "p50_ms": statistics.median(times) * 1000,
        "p95_ms": times[int(len(times) * 0.95) - 1] * 1000,
        "queries": int(statistics.median(queries)),
        "picks": picks,
    }
