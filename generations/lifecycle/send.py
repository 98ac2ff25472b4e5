"""Sending: claim the next waiting job set under the in-flight cap, send it, and act on the answer.

Each step is its own short transaction; no transaction is ever held open across
the HTTP call. What each gateway answer leads to follows the error table in
docs/UPSTREAM.md; where soulsite departs from it, docs/DECISIONS.md says why.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django_q.tasks import async_task

from generations.lifecycle import attempts, backoff, claims, finish, leases, policy, reports, timing
from generations.models import Attempt, JobSet
from generations.upstream import client as soul
from generations.upstream import gateway, references

Status = JobSet.Status

SEND_SLOTS = "send-slots"


def enqueue_send() -> None:
    """Ask a worker to send what waits (a django-q2 task)."""
    async_task("generations.tasks.send_waiting", task_name="send waiting job sets")


def request_body(job_set: JobSet) -> dict:
    """The request body: the person's parameters plus soulsite's own webhook fields."""
    link = references.public_link(job_set.reference_upload) if job_set.reference_upload_id else None
    body = job_set.soul_request().parameters(reference_link=link)
    if job_set.webhook_token and settings.SOUL_PUBLIC_URL:
        path = reverse("soul-webhook", args=[job_set.webhook_token])
        body["webhook_url"] = settings.SOUL_PUBLIC_URL + path
        body["webhook_secret"] = job_set.webhook_secret
    return body


def in_flight_count() -> int:
    return JobSet.objects.filter(status__in=JobSet.IN_FLIGHT).count()


def send_waiting(worker: str, limit: int = 100) -> int:
    """Send waiting job sets, oldest first, while the in-flight cap allows. Returns how many."""
    sent = 0
    while sent < limit:
        job_set = claim_next(worker)
        if job_set is None:
            break
        _send(job_set)
        sent += 1
    return sent


def claim_next(worker: str) -> JobSet | None:
    """The oldest waiting job set that is due, claimed for sending, if the cap leaves a slot."""
    if gateway.is_paused():
        return None
    now = timezone.now()
    cap = gateway.max_in_flight()
    with transaction.atomic():
        # One sender at a time decides who takes a slot: a row lock on
        # PostgreSQL; on SQLite the IMMEDIATE transaction already serialises.
        leases.lock_row(SEND_SLOTS)
        if in_flight_count() >= cap:
            return None
        pk = (
            JobSet.objects.filter(status=Status.WAITING, due_at__lte=now)
            .order_by("created_at", "id")
            .values_list("pk", flat=True)
            .first()
        )
        if pk is None:
            return None
        claims.claim_to_send(pk, worker, now)
    return JobSet.objects.get(pk=pk)


def _send(job_set: JobSet) -> None:
    payload = request_body(job_set)
    asked = "POST generateSoul " + json.dumps(
        {k: v for k, v in payload.items() if k != "webhook_secret"}, default=str
    )
    started = time.monotonic()
    try:
        result = soul.get_client().submit(payload, str(job_set.idempotency_key))
    except soul.SoulError as exc:
        attempts.record(job_set.pk, Attempt.Kind.SUBMIT, started, asked, error=exc)
        after_send_error(job_set, exc)
        return
    # The upstream id first, alone: whatever fails next, we can still find the job set.
    JobSet.objects.filter(pk=job_set.pk).update(upstream_id=result.id)
    answer = attempts.summary(result)
    attempts.record(job_set.pk, Attempt.Kind.SUBMIT, started, asked, status_code=200, answer=answer)
    record_submitted(job_set.pk, result)


def after_send_error(job_set: JobSet, exc: soul.SoulError) -> None:
    """What a failed submit leads to: unconfirmed, failed (perhaps pausing sending), or tried again later."""
    if isinstance(exc, (soul.NoResponse, soul.ProtocolError)):
        # It may have reached the gateway and been charged: never resend blindly.
        finish.end(
            job_set,
            Status.UNCONFIRMED,
            f"{exc.message} The gateway may have accepted (and charged) it, so soulsite will not send it "
            "again by itself. If no images arrive, use “Submit again”.",
        )
    elif isinstance(exc, (soul.Unauthorized, soul.AccessDenied)):
        gateway.pause(exc)
        finish.end(job_set, Status.FAILED, _refusal(exc))
    elif isinstance(exc, soul.ConcurrencyLimited):
        gateway.note_concurrency_limit(in_flight_count() - 1)
        retry_later(job_set, exc, "The gateway is busy with other requests.")
    elif isinstance(exc, soul.Unavailable):
        retry_later(job_set, exc, "Soul is unavailable for now.", base=30.0, cap=900.0)
    elif exc.retryable:
        retry_later(job_set, exc, "")
    else:
        finish.end(job_set, Status.FAILED, _refusal(exc))


def _refusal(exc: soul.SoulError) -> str:
    return policy.refusal(
        exc.message,
        key_refused=isinstance(exc, soul.Unauthorized),
        access_denied=isinstance(exc, soul.AccessDenied),
    )


def retry_later(
    job_set: JobSet, exc: soul.SoulError, why: str, base: float = 2.0, cap: float = 300.0
) -> None:
    """Put it back in the queue, due after a backoff; or give up once it has waited too long."""
    now = timezone.now()
    if policy.gave_up((now - job_set.created_at).total_seconds(), settings.SOUL_POLL_GIVE_UP):
        finish.end(
            job_set,
            Status.FAILED,
            f"Gave up sending after {job_set.send_attempts} attempts: {exc.message}. Nothing was charged.",
        )
        return
    wait = backoff.delay(job_set.send_attempts, base=base, cap=cap, retry_after=exc.retry_after)
    due = now + timedelta(seconds=wait)
    reason = (
        f"{why + ' ' if why else ''}{exc.message} Nothing was charged. Trying again at "
        f"{timezone.localtime(due):%H:%M:%S} (attempt {job_set.send_attempts + 1})."
    )
    claims.release(
        JobSet.objects.filter(pk=job_set.pk, status=Status.SENDING),
        status=Status.WAITING,
        status_reason=reason,
        due_at=due,
        sent_at=None,
    )


def record_submitted(pk: int, result: soul.JobSetResult) -> None:
    """The gateway accepted it: store its jobs, and schedule the first poll."""
    now = timezone.now()
    with transaction.atomic():
        job_set = JobSet.objects.select_for_update().get(pk=pk)
        reports.merge_jobs(job_set, result, now)
        claims.release(
            JobSet.objects.filter(pk=pk),
            input_params=result.input_params,
            status=reports.pending_status(job_set),
            status_reason="",
            due_at=now + timedelta(seconds=timing.next_poll_delay(job_set, now)),
        )


def recover_abandoned_sends() -> int:
    """Job sets a killed worker left mid-send: their fate upstream is unknown."""
    now = timezone.now()
    count = 0
    for job_set in claims.abandoned_sends():
        if job_set.upstream_id:
            # The answer arrived before the crash: carry on tracking it.
            claims.release(
                JobSet.objects.filter(pk=job_set.pk, status=Status.SENDING),
                status=Status.SUBMITTED,
                due_at=now,
            )
        else:
            finish.end(
                job_set,
                Status.UNCONFIRMED,
                "The worker stopped while sending this to the gateway, so soulsite cannot tell whether it "
                "was accepted (and charged). If no images arrive, use “Submit again”.",
            )
        count += 1
    return count
