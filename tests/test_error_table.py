"""One test per row of the error table in docs/UPSTREAM.md, against the sandbox over real HTTP."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from generations.lifecycle import poll, send
from generations.models import Attempt, GatewayState, JobSet
from generations.upstream import client as soul_client
from generations.upstream import gateway
from tests.factories import make_job_set
from tests.servers import closed_port_url

pytestmark = pytest.mark.django_db(transaction=True)
Status = JobSet.Status


def accepted(sandbox_stats, job_set) -> int:
    return sandbox_stats()["by_idempotency_key"].get(str(job_set.idempotency_key), 0)


def track_now(job_set: JobSet) -> JobSet:
    """One tracking step, whenever it was due."""
    JobSet.objects.filter(pk=job_set.pk).update(claimed_by="t", due_at=timezone.now())
    poll.track(job_set.pk, "t")
    job_set.refresh_from_db()
    return job_set


def track_until_finished(job_set: JobSet, timeout: float = 10) -> JobSet:
    deadline = time.monotonic() + timeout
    while job_set.status not in JobSet.TERMINAL and time.monotonic() < deadline:
        time.sleep(0.2)
        track_now(job_set)
    return job_set


def seconds_until_due(job_set: JobSet) -> float:
    return (job_set.due_at - timezone.now()).total_seconds()


def test_connection_refused_before_sending_is_retried_with_backoff_and_sent_once(
    alice, settings, sandbox, sandbox_stats
):
    settings.SOUL_API_BASE_URL = closed_port_url()
    soul_client.reset_client()
    job_set = make_job_set(alice)
    send.send_waiting("t")
    job_set.refresh_from_db()
    assert job_set.status == Status.WAITING and "could not be reached" in job_set.status_reason
    assert 0 < seconds_until_due(job_set) <= 2.5

    settings.SOUL_API_BASE_URL = sandbox.url
    soul_client.reset_client()
    JobSet.objects.filter(pk=job_set.pk).update(due_at=timezone.now())
    send.send_waiting("t")
    job_set.refresh_from_db()
    assert job_set.status in JobSet.POLLED
    assert accepted(sandbox_stats, job_set) == 1


@pytest.mark.parametrize("fault", ["slow_rate", "drop_rate"])
def test_no_answer_after_a_submit_was_sent_is_unconfirmed_and_never_resent(
    alice, settings, faults, sandbox_stats, fault
):
    settings.SOUL_READ_TIMEOUT = 0.5
    soul_client.reset_client()
    faults(**{fault: 1.0, "slow_seconds": 2.0})
    job_set = make_job_set(alice)
    send.send_waiting("t")
    job_set.refresh_from_db()
    assert job_set.status == Status.UNCONFIRMED
    assert "may have accepted (and charged) it" in job_set.status_reason
    assert job_set.charge == JobSet.Charge.RESERVED
    assert accepted(sandbox_stats, job_set) == 1  # the gateway did take it

    faults(**{fault: 0.0})
    send.send_waiting("t")
    assert accepted(sandbox_stats, job_set) == 1


def test_the_concurrency_400_is_retried_later_and_lowers_the_local_cap(alice, settings, faults):
    settings.SOUL_MAX_IN_FLIGHT = 4
    faults(max_in_flight=1, complete_seconds=30)
    first, second = make_job_set(alice, prompt="one"), make_job_set(alice, prompt="two")
    send.send_waiting("t")
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == Status.SUBMITTED
    assert second.status == Status.WAITING
    assert "Maximum number of concurrent requests (1)" in second.status_reason
    assert second.charge == JobSet.Charge.RESERVED and second.upstream_id is None
    assert gateway.max_in_flight() == 1


@pytest.mark.parametrize(
    ("status", "body", "words"),
    [
        (400, {"error": "Invalid request parameters"}, "Invalid request parameters"),
        (
            422,
            {"detail": [{"loc": ["body", "seed"], "msg": "must be at most 1000000"}]},
            "seed: must be at most",
        ),
    ],
)
def test_a_validation_refusal_fails_with_the_gateways_words_and_is_never_retried(
    alice, script, sandbox_stats, status, body, words
):
    script("submit", {"status": status, "body": body})
    job_set = make_job_set(alice)
    send.send_waiting("t")
    job_set.refresh_from_db()
    assert job_set.status == Status.FAILED
    assert words in job_set.status_reason and "Nothing was charged" in job_set.status_reason
    assert job_set.charge == JobSet.Charge.RELEASED
    assert not GatewayState.get().paused
    attempt = Attempt.objects.get(job_set=job_set)
    assert (attempt.kind, attempt.status_code, attempt.ok) == ("submit", status, False)

    send.send_waiting("t")
    assert accepted(sandbox_stats, job_set) == 0


def test_a_401_fails_pauses_sending_and_alerts(alice, script):
    script("submit", {"status": 401, "body": {"error": "Invalid or missing authentication"}})
    job_set, waiting = make_job_set(alice, prompt="a"), make_job_set(alice, prompt="b")
    send.send_waiting("t")
    job_set.refresh_from_db()
    waiting.refresh_from_db()
    assert job_set.status == Status.FAILED and "subscription key" in job_set.status_reason
    assert waiting.status == Status.WAITING  # nothing more is sent into a refusal
    state = GatewayState.get()
    assert state.paused and state.paused_status == 401
    # The key works again (the sandbox accepts any key): the free probe resumes sending.
    assert gateway.probe_if_due()
    assert send.send_waiting("t") == 1


@pytest.mark.parametrize("status", [402, 403])
def test_a_402_or_403_fails_and_pauses_until_an_admin_resumes(alice, script, status):
    script("submit", {"status": status, "body": {"error": "Access denied for this operation"}})
    job_set = make_job_set(alice)
    send.send_waiting("t")
    job_set.refresh_from_db()
    assert job_set.status == Status.FAILED and "Access denied for this operation" in job_set.status_reason
    assert GatewayState.get().paused_status == status
    assert not gateway.probe_if_due()  # only a paid submit could tell: no automatic probe
    make_job_set(alice)
    assert send.send_waiting("t") == 0
    gateway.resume()
    assert send.send_waiting("t") == 1


def test_a_404_on_poll_is_retried_then_the_job_set_finishes(alice, faults):
    faults(poll_not_found_first=2)
    job_set = make_job_set(alice)
    send.send_waiting("t")
    job_set.refresh_from_db()
    track_now(job_set)
    assert job_set.status != Status.FAILED and job_set.poll_errors == 1
    assert "Job set not found" in job_set.status_reason
    track_until_finished(job_set)
    assert job_set.status == Status.COMPLETED


def test_a_404_on_poll_that_persists_fails_the_job_set(alice, script):
    job_set = make_job_set(alice)
    send.send_waiting("t")
    job_set.refresh_from_db()
    script("poll", *[{"status": 404, "body": {"error": "Job set not found"}}] * poll.MAX_POLL_404)
    for _ in range(poll.MAX_POLL_404):
        track_now(job_set)
    assert job_set.status == Status.FAILED
    assert "no longer knows this job set" in job_set.status_reason


@pytest.mark.parametrize("status", [423, 503])
def test_a_blocked_or_disabled_model_is_retried_with_a_long_backoff(alice, script, status):
    script("submit", {"status": status, "body": {"error": "Model is temporarily unavailable"}})
    job_set = make_job_set(alice)
    send.send_waiting("t")
    job_set.refresh_from_db()
    assert job_set.status == Status.WAITING and "unavailable" in job_set.status_reason
    assert seconds_until_due(job_set) >= 14  # at least half of a 30 s first step

    JobSet.objects.filter(pk=job_set.pk).update(due_at=timezone.now())
    send.send_waiting("t")
    job_set.refresh_from_db()
    script("poll", {"status": status, "body": {"error": "Model is temporarily unavailable"}})
    track_now(job_set)
    assert job_set.status in JobSet.POLLED
    assert seconds_until_due(job_set) >= 14


def test_a_429_waits_for_retry_after(alice, faults):
    faults(rate_limit_rate=1.0, retry_after=7)
    job_set = make_job_set(alice)
    send.send_waiting("t")
    job_set.refresh_from_db()
    assert job_set.status == Status.WAITING and "Rate limit" in job_set.status_reason
    assert 6 <= seconds_until_due(job_set) <= 8.5


def test_a_429_without_retry_after_backs_off_exponentially(alice, script):
    script(
        "submit", *[{"status": 429, "body": {"statusCode": 429, "message": "Rate limit is exceeded."}}] * 3
    )
    job_set = make_job_set(alice)
    waits = []
    for _ in range(3):
        JobSet.objects.filter(pk=job_set.pk).update(due_at=timezone.now())
        send.send_waiting("t")
        job_set.refresh_from_db()
        waits.append(seconds_until_due(job_set))
    assert job_set.status == Status.WAITING
    assert (
        waits[0] <= 2.1 and 1.9 <= waits[1] <= 4.1 and 3.9 <= waits[2] <= 8.1
    )  # 2, 4, 8 s steps with jitter


def test_5xx_and_poll_timeouts_are_retried_and_the_job_set_still_finishes(alice, settings, script, faults):
    job_set = make_job_set(alice)
    send.send_waiting("t")
    job_set.refresh_from_db()
    script(
        "poll",
        {"status": 500, "body": {"error": "An unexpected error occurred, please try again later"}},
        {"status": 502, "body": {"error": "Bad gateway"}},
    )
    track_now(job_set)
    assert job_set.status in JobSet.IN_FLIGHT and job_set.poll_errors == 1
    track_now(job_set)
    assert job_set.poll_errors == 2 and seconds_until_due(job_set) > 0

    settings.SOUL_READ_TIMEOUT = 0.5
    soul_client.reset_client()
    faults(slow_rate=1.0, slow_seconds=1.5)
    track_now(job_set)
    assert job_set.poll_errors == 3 and "did not answer" in job_set.status_reason
    faults(slow_rate=0.0)
    track_until_finished(job_set)
    assert job_set.status == Status.COMPLETED and job_set.charge == JobSet.Charge.CHARGED
    codes = list(
        Attempt.objects.filter(job_set=job_set, kind="poll", ok=False).values_list("status_code", flat=True)
    )
    assert codes == [500, 502, None]


def test_an_expired_backoff_does_not_lose_the_job_set(alice, settings):
    settings.SOUL_POLL_GIVE_UP = 60
    settings.SOUL_API_BASE_URL = closed_port_url()
    soul_client.reset_client()
    job_set = make_job_set(alice)
    JobSet.objects.filter(pk=job_set.pk).update(created_at=timezone.now() - timedelta(seconds=61))
    send.send_waiting("t")
    job_set.refresh_from_db()
    assert job_set.status == Status.FAILED and "Gave up sending" in job_set.status_reason
    assert job_set.charge == JobSet.Charge.RELEASED
