"""The soak: 200 job sets through a faulty gateway and two cluster crashes, on PostgreSQL and Redis.

The sandbox answers 10% of requests 500 and 5% 429 without processing them, drops the answer
of 5% after taking the request, and answers 2% too late (after the client gave up), all
drawn from a fixed seed; the cluster is SIGKILLed twice half way. A person watches the
gallery and sends each unconfirmed job set again (safely: the same request, the same key).
At the end nothing may be lost, nothing charged twice, nothing stuck, and what soulsite
counts as spent must be what the gateway charged.

It runs only in CI's second pass (`make test-scale`), where the database is PostgreSQL and
the broker Redis, as in production; on SQLite it is skipped. It writes its figures to
test-artifacts/soak.json and prints them (`pytest -s`).
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone

from generations.actions import jobsets
from generations.models import Attempt, JobSet
from tests.conftest import ARTIFACTS, wait_until
from tests.factories import make_job_set

Status = JobSet.Status
POSTGRES = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
pytestmark = [
    pytest.mark.soak,
    pytest.mark.skipif(not POSTGRES, reason="the soak runs on PostgreSQL only (make test-scale)"),
    pytest.mark.django_db(transaction=True),
]

JOB_SETS = 200
CAP = 4
# Kills when this many have finished: a third and two thirds of the way.
KILL_AT = (JOB_SETS // 3, 2 * JOB_SETS // 3)
# A person notices an unconfirmed card after a moment, not within the same millisecond.
NOTICED_AFTER = timedelta(seconds=2)
# Bounded: CI's whole second pass must stay well under 15 minutes.
TIME_LIMIT = 360


class Person:
    """Watches the gallery and sends every unconfirmed job set again, as the card offers."""

    def __init__(self, pks: list[int]):
        self.pks = pks
        self.resends = 0

    def look(self) -> None:
        seen_before = timezone.now() - NOTICED_AFTER
        unconfirmed = JobSet.objects.filter(
            pk__in=self.pks,
            status=Status.UNCONFIRMED,
            charge=JobSet.Charge.RESERVED,
            finished_at__lte=seen_before,
        )
        for job_set in unconfirmed:
            self.resends += jobsets.send_again(job_set, "the soak's person")


def finished(pks: list[int]) -> int:
    return JobSet.objects.filter(pk__in=pks, status__in=JobSet.TERMINAL).count()


def all_settled(pks: list[int]) -> bool:
    rows = JobSet.objects.filter(pk__in=pks)
    return (
        not rows.exclude(status__in=JobSet.TERMINAL).exists()
        and not rows.filter(status=Status.UNCONFIRMED, charge=JobSet.Charge.RESERVED).exists()
    )


def test_a_soak_of_200_job_sets_through_faults_and_two_cluster_kills_loses_and_doubles_nothing(
    alice, start_cluster, faults, sandbox_stats, media_root
):
    faults(
        queue_seconds=0.1,
        complete_seconds=0.5,
        error_rate=0.10,
        rate_limit_rate=0.05,
        retry_after=1,
        drop_rate=0.05,
        slow_rate=0.02,
        slow_seconds=2,  # past the client's read timeout: taken, but the answer comes too late
        fault_seed=20261206,
    )
    env = {"SOUL_READ_TIMEOUT": "1", "SOUL_MAX_IN_FLIGHT": str(CAP)}
    started = time.monotonic()
    sizes = [4 if n % 10 == 0 else 1 for n in range(JOB_SETS)]  # one in ten a batch of four
    pks = [make_job_set(alice, prompt=f"soak {n}", batch_size=size).pk for n, size in enumerate(sizes)]
    person = Person(pks)
    cluster = start_cluster(**env)
    sending_at_kills = []
    for kill_at in KILL_AT:
        wait_until(
            lambda at=kill_at: person.look() or finished(pks) >= at,
            timeout=TIME_LIMIT - (time.monotonic() - started),
            interval=0.5,
            message=f"{kill_at} job sets to finish",
        )
        # Kill it mid-send if one comes along soon: the hardest moment (the gateway may have it).
        mid_send = time.monotonic() + 10
        while not JobSet.objects.filter(status=Status.SENDING).exists() and time.monotonic() < mid_send:
            time.sleep(0.01)
        cluster.kill()
        sending_at_kills.append(JobSet.objects.filter(status=Status.SENDING).count())
        cluster = start_cluster(**env)
    wait_until(
        lambda: person.look() or all_settled(pks),
        timeout=TIME_LIMIT - (time.monotonic() - started),
        interval=0.5,
        message="every job set to finish, the unconfirmed ones sent again",
    )
    took = time.monotonic() - started
    stats = sandbox_stats()
    job_sets = list(JobSet.objects.filter(pk__in=pks).prefetch_related("jobs"))
    keys = {str(js.idempotency_key): js for js in job_sets}

    lost = [js.pk for js in job_sets if js.status != Status.COMPLETED]
    completed_jobs = [(js.pk, job) for js in job_sets for job in js.jobs.all() if job.status == "completed"]
    missing_images = [(pk, job.index) for pk, job in completed_jobs if not job.image]
    charged_twice = {key: n for key, n in stats["by_idempotency_key"].items() if n != 1}
    stuck = [js.pk for js in job_sets if js.status in JobSet.PENDING or js.claimed_by]
    spent = sum((js.price for js in job_sets if js.charge == JobSet.Charge.CHARGED), Decimal("0.00"))
    upstream_charged = sum((keys[key].price for key in stats["charged_keys"]), Decimal("0.00"))
    unconfirmed_ever = (
        Attempt.objects.filter(job_set_id__in=pks, kind=Attempt.Kind.ADMIN, asked__startswith="send again")
        .values("job_set_id")
        .distinct()
        .count()
    )
    figures = {
        "job_sets": JOB_SETS,
        "seconds": round(took, 1),
        "lost": len(lost),
        "charged_twice": len(charged_twice),
        "stuck": len(stuck),
        "spent": str(spent),
        "upstream_charged": str(upstream_charged),
        "made_upstream": stats["job_sets"],
        "submits": stats["submits_accepted"] + stats["submits_replayed"],
        "answered_as_repeats": stats["submits_replayed"],
        "sent_again_by_the_person": person.resends,
        "job_sets_sent_again": unconfirmed_ever,
        "sending_at_the_kills": sending_at_kills,
        "faults": stats["faults"],
        "max_in_flight_seen": stats["max_in_flight_seen"],
    }
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "soak.json").write_text(json.dumps(figures, indent=2) + "\n")
    print("\nsoak:", json.dumps(figures))

    assert all(stats["faults"][kind] for kind in ("500", "429", "drop", "slow")), stats["faults"]
    assert person.resends > 0  # the unconfirmed path was taken, and settled by sending again
    assert not lost, [(js.pk, js.status, js.status_reason) for js in job_sets if js.pk in lost]
    assert not missing_images
    assert not charged_twice
    assert set(stats["by_idempotency_key"]) == set(keys)  # each made upstream exactly once
    assert stats["job_sets"] == JOB_SETS
    assert not stuck
    assert spent == upstream_charged and set(stats["charged_keys"]) == {
        key for key, js in keys.items() if js.charge == JobSet.Charge.CHARGED
    }
    assert stats["max_in_flight_seen"] <= CAP
