"""Crashes, restarts, a soak under upstream faults, and webhooks end to end."""

from __future__ import annotations

import pytest
from PIL import Image

from generations.lifecycle import timing, tracker
from generations.models import Attempt, JobSet
from tests.conftest import wait_until
from tests.factories import make_job_set

Status = JobSet.Status
pytestmark = pytest.mark.django_db(transaction=True)


def all_terminal(pks):
    return not JobSet.objects.filter(pk__in=pks).exclude(status__in=JobSet.TERMINAL).exists()


def assert_images_stored(job_sets, media_root):
    for job_set in job_sets:
        for job in job_set.jobs.filter(status="completed"):
            assert job.image, f"job set {job_set.pk} job {job.index} has no stored image"
            with Image.open(media_root / job.image.name) as image:
                image.verify()


def test_a_cluster_killed_mid_tracking_restarts_and_nothing_is_lost_or_sent_twice(
    alice, start_cluster, faults, sandbox_stats, media_root
):
    faults(queue_seconds=0.2, complete_seconds="2-4")
    pks = [make_job_set(alice, prompt=f"restart {n}", batch_size=4 if n % 3 == 0 else 1).pk for n in range(8)]
    first = start_cluster()
    wait_until(
        lambda: JobSet.objects.filter(status__in=JobSet.POLLED).count() >= 3,
        message="job sets in flight",
    )
    first.kill()
    sending_when_killed = set(JobSet.objects.filter(status=Status.SENDING).values_list("pk", flat=True))

    start_cluster()
    wait_until(lambda: all_terminal(pks), timeout=120, message="every job set to finish after the restart")

    stats = sandbox_stats()
    job_sets = list(JobSet.objects.filter(pk__in=pks))
    for job_set in job_sets:
        sends = stats["by_idempotency_key"].get(str(job_set.idempotency_key), 0)
        assert sends <= 1, f"job set {job_set.pk} was submitted {sends} times"
        if job_set.pk not in sending_when_killed:
            assert job_set.status == Status.COMPLETED, (job_set.pk, job_set.status, job_set.status_reason)
            assert sends == 1
    assert_images_stored(job_sets, media_root)


@pytest.mark.soak
def test_a_soak_of_200_job_sets_through_faults_and_a_worker_kill(
    alice, start_cluster, faults, sandbox_stats, media_root, settings
):
    faults(
        queue_seconds=0.1,
        complete_seconds=0.5,
        error_rate=0.10,
        rate_limit_rate=0.05,
        retry_after=1,
        slow_rate=0.02,
        slow_seconds=2,
        fault_seed=20261124,
    )
    env = {"SOUL_READ_TIMEOUT": "1", "SOUL_MAX_IN_FLIGHT": "4"}
    pks = [make_job_set(alice, prompt=f"soak {n}", batch_size=4 if n % 10 == 0 else 1).pk for n in range(200)]
    first = start_cluster(**env)
    wait_until(
        lambda: JobSet.objects.filter(pk__in=pks, status__in=JobSet.TERMINAL).count() >= 50,
        timeout=120,
        message="a quarter of the soak to finish",
    )
    first.kill()
    sending_when_killed = set(JobSet.objects.filter(status=Status.SENDING).values_list("pk", flat=True))
    start_cluster(**env)
    wait_until(lambda: all_terminal(pks), timeout=400, interval=0.5, message="every soak job set to finish")

    stats = sandbox_stats()
    assert stats["faults"]["500"] > 0 and stats["faults"]["429"] > 0 and stats["faults"]["slow"] > 0
    assert stats["max_in_flight_seen"] <= 4
    job_sets = list(JobSet.objects.filter(pk__in=pks))
    for job_set in job_sets:
        sends = stats["by_idempotency_key"].get(str(job_set.idempotency_key), 0)
        if job_set.pk in sending_when_killed:
            assert sends <= 1
        else:
            assert sends == 1, f"job set {job_set.pk} ({job_set.status}) was accepted {sends} times"
        assert job_set.status in (Status.COMPLETED, Status.UNCONFIRMED), (
            job_set.status,
            job_set.status_reason,
        )
        if job_set.status == Status.UNCONFIRMED:
            assert job_set.status_reason  # never a state without a reason
    assert_images_stored(job_sets, media_root)


def test_webhooks_bring_results_in_without_waiting_for_the_next_poll(
    alice, live_server, faults, sandbox_stats, settings, monkeypatch
):
    settings.SOUL_PUBLIC_URL = live_server.url
    faults(queue_seconds=0.1, complete_seconds=0.5, webhook_duplicates=2, webhook_reorder=True)
    # Without a callback the first poll would be an hour away.
    monkeypatch.setattr(timing, "next_poll_delay", lambda job_set, now: 3600.0)
    job_set = make_job_set(alice, batch_size=4)

    tracker.run(max_seconds=20)

    job_set.refresh_from_db()
    assert job_set.status == Status.COMPLETED, job_set.status_reason
    assert job_set.polls == 1
    wait_until(
        lambda: sandbox_stats()["webhooks_pending"] == 0, message="the sandbox to deliver every callback"
    )
    received = Attempt.objects.filter(job_set=job_set, kind=Attempt.Kind.WEBHOOK).count()
    assert received == 4  # the callback, two duplicates and a stale out-of-order one
    job_set.refresh_from_db()
    assert job_set.status == Status.COMPLETED and job_set.due_at is None  # the stale one changed nothing
