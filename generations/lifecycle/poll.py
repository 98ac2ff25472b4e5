"""Tracking one claimed job set: poll it, fetch what finished, finish it when every job is settled.

What each gateway answer leads to follows the error table in docs/UPSTREAM.md;
a poll answered 401/402/403 keeps the job set (docs/DECISIONS.md says why).
"""

from __future__ import annotations

import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from generations.lifecycle import attempts, backoff, claims, download, finish, policy, reports, send, timing
from generations.models import Attempt, Job, JobSet
from generations.upstream import client as soul
from generations.upstream import gateway

Status = JobSet.Status

# A poll answered 404 this many times in a row: the gateway no longer knows the job set.
MAX_POLL_404 = 5


def track(pk: int, worker: str) -> None:
    """Poll a claimed job set once, fetch finished results, finish it when every job is settled."""
    job_set = JobSet.objects.get(pk=pk)
    if not policy.is_tracked(job_set.status) or job_set.claimed_by != worker:
        return
    now = timezone.now()
    jobs = list(job_set.jobs.all())
    if not jobs or any(not job.is_terminal for job in jobs):
        elapsed = (now - (job_set.sent_at or job_set.created_at)).total_seconds()
        if policy.gave_up(elapsed, settings.SOUL_POLL_GIVE_UP):
            finish.end(job_set, Status.EXPIRED, policy.expired_reason(settings.SOUL_POLL_GIVE_UP))
            return
        if not poll(job_set, jobs):
            return
        jobs = list(job_set.jobs.all())

    download.download([job for job in jobs if download.wanted(job)])

    if _settled(jobs):
        finish.finish(job_set.pk)
        # A slot upstream just freed: fill it now rather than at the tracker's next tick.
        send.send_waiting(worker, limit=1)
    else:
        _schedule_next(job_set.pk, jobs)


def _settled(jobs: list[Job]) -> bool:
    """Every job terminal, and every finished image stored (or given up on)."""
    return all(job.is_terminal for job in jobs) and not any(download.wanted(job) for job in jobs)


def poll(job_set: JobSet, jobs: list[Job]) -> bool:
    """Ask the gateway; False when the poll failed (and the next one is scheduled)."""
    started = time.monotonic()
    asked = f"POST getGenerationResults {job_set.upstream_id}"
    try:
        result = soul.get_client().poll(job_set.upstream_id)
    except soul.SoulError as exc:
        attempts.record(job_set.pk, Attempt.Kind.POLL, started, asked, error=exc)
        after_poll_error(job_set, exc)
        return False
    before = {job.upstream_id: job.status for job in jobs}
    now = timezone.now()
    with transaction.atomic():
        locked = JobSet.objects.select_for_update().get(pk=job_set.pk)
        reports.merge_jobs(locked, result, now)
        changes = {"input_params": result.input_params} if result.input_params else {}
        JobSet.objects.filter(pk=job_set.pk).update(
            **changes,
            polls=F("polls") + 1,
            poll_errors=0,
            status_reason="",
            status=reports.pending_status(locked),
        )
    if {job.id: job.status for job in result.jobs} != before:
        answer = attempts.summary(result)
        attempts.record(job_set.pk, Attempt.Kind.POLL, started, asked, status_code=200, answer=answer)
    return True


def after_poll_error(job_set: JobSet, exc: soul.SoulError) -> None:
    """A failed poll: try again after a backoff, or fail the job set once the gateway has forgotten it."""
    errors = job_set.poll_errors + 1
    if isinstance(exc, soul.NotFound) and errors >= MAX_POLL_404:
        finish.end(
            job_set,
            Status.FAILED,
            f"The gateway answered “{exc.message}” {errors} times in a row: it no longer knows this job set.",
        )
        return
    if isinstance(exc, (soul.Unauthorized, soul.AccessDenied)):
        # The job set is paid for and may well finish: keep it, check again slowly.
        gateway.pause(exc)
        wait = backoff.delay(errors, base=30.0, cap=600.0)
        reason = f"The gateway refused soulsite's key while checking on it ({exc.message}); will keep trying."
    else:
        base, cap = (30.0, 900.0) if isinstance(exc, soul.Unavailable) else (1.0, 120.0)
        wait = backoff.delay(errors, base=base, cap=cap, retry_after=exc.retry_after)
        reason = f"Checking on it failed ({exc.message}); trying again shortly."
    claims.release(
        JobSet.objects.filter(pk=job_set.pk),
        polls=F("polls") + 1,
        poll_errors=errors,
        status_reason=reason,
        due_at=timezone.now() + timedelta(seconds=wait),
    )


def _schedule_next(pk: int, jobs: list[Job]) -> None:
    now = timezone.now()
    job_set = JobSet.objects.get(pk=pk)
    if all(job.is_terminal for job in jobs):
        # Only downloads are left: back off on those, no need to poll.
        attempts_made = max(job.download_attempts for job in jobs)
        wait = backoff.delay(attempts_made, base=2.0, cap=60.0)
    else:
        wait = timing.next_poll_delay(job_set, now)
    claims.release(JobSet.objects.filter(pk=pk), due_at=now + timedelta(seconds=wait))
