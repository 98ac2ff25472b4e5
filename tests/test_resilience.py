"""Crashes, restarts and webhooks end to end (the soak under upstream faults: tests/test_soak.py)."""

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
    # Every delivery was signed by the sandbox and answered 2xx by the receiver (a refusal
    # would count as failed), and each message was taken once: its two duplicates did nothing.
    assert sandbox_stats()["webhooks_failed"] == 0 and sandbox_stats()["webhooks_sent"] == 4
    taken = Attempt.objects.filter(job_set=job_set, kind=Attempt.Kind.WEBHOOK)
    assert all(note.ok for note in taken)
    ids = [note.answer.split(";")[0] for note in taken]
    assert 1 <= len(ids) <= 2 and len(set(ids)) == len(ids), ids
    job_set.refresh_from_db()
    assert job_set.status == Status.COMPLETED and job_set.due_at is None  # the stale one changed nothing
