"""Writes: create a job set, send it, track it, download its results, finish it.

Each step is its own short transaction; no transaction is ever held open
across an HTTP call. Views, admin actions and tasks call these; nothing here
renders. What each gateway answer leads to follows the error table in
SOUL_API.md.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from django_q.tasks import async_task

from generations import backoff, references, spend, spend_days, tracking
from generations.charges import charge_for
from generations.models import Attempt, Job, JobSet, Lease, Price
from generations.upstream import client as soul
from generations.upstream import downloads, gateway
from soulwire import params

log = logging.getLogger(__name__)
Status = JobSet.Status

SEND_SLOTS = "send-slots"
MAX_POLL_404 = 5
MAX_DOWNLOAD_ATTEMPTS = 5
# A batch holds at most four images: all of them are fetched at once.
DOWNLOAD_CONCURRENCY = 4
# A poll claim is renewed by the tracker every second, so it can be short: a
# killed worker's job sets are taken over within this many seconds.
CLAIM_SECONDS = 20


def send_claim_seconds() -> float:
    # A send is one request: it may take the whole timeout, plus a margin.
    return settings.SOUL_CONNECT_TIMEOUT + settings.SOUL_READ_TIMEOUT + 30


# --- Create -------------------------------------------------------------------


def create_job_set(user, fields: dict) -> JobSet:
    """Store a new job set as waiting and, once committed, ask a worker to send it.

    Raises spend.BudgetExceeded, having stored nothing, when a budget would be passed.
    """
    with transaction.atomic():
        price = Price.current(fields["quality"], fields["batch_size"])
        spend.hold(user, fields.get("team"), price)  # raises BudgetExceeded
        hooks = {}
        if settings.SOUL_PUBLIC_URL:
            hooks = {
                "webhook_token": secrets.token_urlsafe(32),
                # Standard Webhooks secret format: "whsec_" + base64 of the key bytes.
                "webhook_secret": "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
            }
        job_set = JobSet.objects.create(
            user=user, price=price, status=Status.WAITING, due_at=timezone.now(), **hooks, **fields
        )
        spend_days.refresh(job_set)
        transaction.on_commit(enqueue_send)
    return job_set


def enqueue_send() -> None:
    async_task("generations.tasks.send_waiting", task_name="send waiting job sets")


def build_payload(job_set: JobSet) -> dict:
    """The request body: the person's parameters plus soulsite's own webhook fields."""
    body = job_set.payload()
    if job_set.reference_upload_id:
        body["image_reference_type"] = "image_url"
        body["image_reference_image_url"] = references.public_link(job_set.reference_upload)
    if job_set.webhook_token and settings.SOUL_PUBLIC_URL:
        path = reverse("soul-webhook", args=[job_set.webhook_token])
        body["webhook_url"] = settings.SOUL_PUBLIC_URL + path
        body["webhook_secret"] = job_set.webhook_secret
    return body


# --- Attempt history --------------------------------------------------------------


def _record(
    job_set_id: int,
    kind: str,
    started: float,
    asked: str,
    *,
    error: soul.SoulError | None = None,
    status_code: int | None = None,
    answer: str = "",
) -> None:
    Attempt.objects.create(
        job_set_id=job_set_id,
        kind=kind,
        duration_ms=int((time.monotonic() - started) * 1000),
        asked=asked,
        status_code=error.status if error else status_code,
        ok=error is None,
        answer=f"{type(error).__name__}: {error.message}" if error else answer,
    )


def _summary(result: soul.JobSetResult) -> str:
    statuses = Counter(job.status or "?" for job in result.jobs)
    jobs = ", ".join(f"{n} {status}" for status, n in statuses.items()) or result.status or "no jobs"
    return f"job set {result.id}: {jobs}"


# --- Send ---------------------------------------------------------------------


def send_waiting(worker: str, limit: int = 100) -> int:
    """Send waiting job sets, oldest first, while the in-flight cap allows. Returns how many."""
    sent = 0
    while sent < limit:
        job_set = _claim_next_to_send(worker)
        if job_set is None:
            break
        _send(job_set)
        sent += 1
    return sent


def in_flight_count() -> int:
    return JobSet.objects.filter(status__in=JobSet.IN_FLIGHT).count()


def _claim_next_to_send(worker: str) -> JobSet | None:
    if gateway.is_paused():
        return None
    now = timezone.now()
    cap = gateway.max_in_flight()
    with transaction.atomic():
        # One sender at a time decides who takes a slot: a row lock on
        # PostgreSQL; on SQLite the IMMEDIATE transaction already serialises.
        Lease.objects.get_or_create(name=SEND_SLOTS)
        Lease.objects.select_for_update().get(name=SEND_SLOTS)
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
        JobSet.objects.filter(pk=pk, status=Status.WAITING).update(
            status=Status.SENDING,
            sent_at=now,
            send_attempts=F("send_attempts") + 1,
            claimed_by=worker,
            claimed_until=now + timedelta(seconds=send_claim_seconds()),
        )
    return JobSet.objects.get(pk=pk)


def _send(job_set: JobSet) -> None:
    payload = build_payload(job_set)
    asked = "POST generateSoul " + json.dumps(
        {k: v for k, v in payload.items() if k != "webhook_secret"}, default=str
    )
    started = time.monotonic()
    try:
        result = soul.get_client().submit(payload, str(job_set.idempotency_key))
    except soul.SoulError as exc:
        _record(job_set.pk, Attempt.Kind.SUBMIT, started, asked, error=exc)
        _after_send_error(job_set, exc)
        return
    # The upstream id first, alone: whatever fails next, we can still find the job set.
    JobSet.objects.filter(pk=job_set.pk).update(upstream_id=result.id)
    _record(job_set.pk, Attempt.Kind.SUBMIT, started, asked, status_code=200, answer=_summary(result))
    _record_submitted(job_set.pk, result)


def _after_send_error(job_set: JobSet, exc: soul.SoulError) -> None:
    if isinstance(exc, (soul.NoResponse, soul.ProtocolError)):
        # It may have reached the gateway and been charged: never resend blindly.
        _end(
            job_set,
            Status.UNCONFIRMED,
            f"{exc.message} The gateway may have accepted (and charged) it, so soulsite will not send it "
            "again by itself. If no images arrive, use “Submit again”.",
        )
    elif isinstance(exc, (soul.Unauthorized, soul.AccessDenied)):
        gateway.pause(exc)
        _end(job_set, Status.FAILED, _refusal(exc))
    elif isinstance(exc, soul.ConcurrencyLimited):
        gateway.note_concurrency_limit(in_flight_count() - 1)
        _retry_send_later(job_set, exc, "The gateway is busy with other requests.")
    elif isinstance(exc, soul.Unavailable):
        _retry_send_later(job_set, exc, "Soul is unavailable for now.", base=30.0, cap=900.0)
    elif exc.retryable:
        _retry_send_later(job_set, exc, "")
    else:
        _end(job_set, Status.FAILED, _refusal(exc))


def _refusal(exc: soul.SoulError) -> str:
    if isinstance(exc, soul.Unauthorized):
        return (
            f"The gateway refused soulsite's subscription key ({exc.message}). Sending is paused "
            "until an admin fixes SOUL_API_KEY. Nothing was charged."
        )
    if isinstance(exc, soul.AccessDenied):
        return (
            f"The gateway refused the request ({exc.message}): the subscription may be out of credits "
            "or not allowed to use Soul. Sending is paused until an admin resumes it. Nothing was charged."
        )
    return f"The gateway refused the request: {exc.message}. Nothing was charged."


def _retry_send_later(
    job_set: JobSet, exc: soul.SoulError, why: str, base: float = 2.0, cap: float = 300.0
) -> None:
    now = timezone.now()
    if now - job_set.created_at > timedelta(seconds=settings.SOUL_POLL_GIVE_UP):
        _end(
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
    JobSet.objects.filter(pk=job_set.pk, status=Status.SENDING).update(
        status=Status.WAITING,
        status_reason=reason,
        due_at=due,
        sent_at=None,
        claimed_by="",
        claimed_until=None,
    )


def _record_submitted(pk: int, result: soul.JobSetResult) -> None:
    now = timezone.now()
    with transaction.atomic():
        job_set = JobSet.objects.select_for_update().get(pk=pk)
        _merge_jobs(job_set, result, now)
        job_set.input_params = result.input_params
        job_set.status = _pending_status(job_set)
        job_set.status_reason = ""
        job_set.due_at = now + timedelta(seconds=tracking.next_poll_delay(job_set, now))
        job_set.claimed_by, job_set.claimed_until = "", None
        job_set.save()


# --- Track ----------------------------------------------------------------------


def track(pk: int, worker: str) -> None:
    """Poll a claimed job set once, fetch finished results, finish it when every job is settled."""
    job_set = JobSet.objects.get(pk=pk)
    if job_set.status not in JobSet.IN_FLIGHT or job_set.claimed_by != worker:
        return
    now = timezone.now()
    jobs = list(job_set.jobs.all())
    if not jobs or any(not job.is_terminal for job in jobs):
        if now - (job_set.sent_at or job_set.created_at) > timedelta(seconds=settings.SOUL_POLL_GIVE_UP):
            hours = settings.SOUL_POLL_GIVE_UP / 3600
            _end(
                job_set,
                Status.EXPIRED,
                f"The gateway did not finish it within {hours:g} hours, so soulsite stopped checking.",
            )
            return
        if not _poll(job_set, jobs):
            return
        jobs = list(job_set.jobs.all())

    _download([job for job in jobs if job.needs_download and job.download_attempts < MAX_DOWNLOAD_ATTEMPTS])

    if _settled(jobs):
        _finish(job_set.pk)
        # A slot upstream just freed: fill it now rather than at the tracker's next tick.
        send_waiting(worker, limit=1)
    else:
        _schedule_next(job_set.pk, jobs)


def _settled(jobs: list[Job]) -> bool:
    """Every job terminal, and every finished image stored (or given up on)."""
    return all(job.is_terminal for job in jobs) and not any(
        job.needs_download and job.download_attempts < MAX_DOWNLOAD_ATTEMPTS for job in jobs
    )


def _poll(job_set: JobSet, jobs: list[Job]) -> bool:
    """Ask the gateway; False when the poll failed (and the next one is scheduled)."""
    started = time.monotonic()
    asked = f"POST getGenerationResults {job_set.upstream_id}"
    try:
        result = soul.get_client().poll(job_set.upstream_id)
    except soul.SoulError as exc:
        _record(job_set.pk, Attempt.Kind.POLL, started, asked, error=exc)
        _after_poll_error(job_set, exc)
        return False
    before = {job.upstream_id: job.status for job in jobs}
    now = timezone.now()
    with transaction.atomic():
        locked = JobSet.objects.select_for_update().get(pk=job_set.pk)
        _merge_jobs(locked, result, now)
        if result.input_params:
            locked.input_params = result.input_params
        locked.polls += 1
        locked.poll_errors = 0
        locked.status_reason = ""
        locked.status = _pending_status(locked)
        locked.save()
    if {job.id: job.status for job in result.jobs} != before:
        _record(job_set.pk, Attempt.Kind.POLL, started, asked, status_code=200, answer=_summary(result))
    return True


def _after_poll_error(job_set: JobSet, exc: soul.SoulError) -> None:
    errors = job_set.poll_errors + 1
    if isinstance(exc, soul.NotFound) and errors >= MAX_POLL_404:
        _end(
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
    JobSet.objects.filter(pk=job_set.pk).update(
        polls=F("polls") + 1,
        poll_errors=errors,
        status_reason=reason,
        due_at=timezone.now() + timedelta(seconds=wait),
        claimed_by="",
        claimed_until=None,
    )


def _merge_jobs(job_set: JobSet, result: soul.JobSetResult, now) -> None:
    known = {job.upstream_id: job for job in job_set.jobs.all()}
    next_index = len(known)
    for reported in result.jobs:
        job = known.get(reported.id)
        if job is None:
            job = Job(job_set=job_set, index=next_index, upstream_id=reported.id)
            next_index += 1
        if reported.status not in params.TERMINAL_STATUSES | params.PENDING_STATUSES:
            log.warning(
                "job set %s: unknown job status %r, treated as not finished", job_set.pk, reported.status
            )
        job.status = reported.status or job.status
        job.raw_url = reported.raw_url or job.raw_url
        job.min_url = reported.min_url or job.min_url
        if job.is_terminal and job.finished_at is None:
            job.finished_at = now
        job.save()


def _pending_status(job_set: JobSet) -> str:
    statuses = [job.status for job in job_set.jobs.all()]
    if any(status != "queued" for status in statuses):
        return Status.IN_PROGRESS
    return Status.SUBMITTED


@dataclass
class _Fetched:
    """What fetching one job's images gave: both stored files, or the reason they are not."""

    job: Job
    started: float
    raw: downloads.Stored | None = None
    preview: downloads.Stored | None = None
    error: soul.SoulError | None = None


def _download(jobs: list[Job]) -> None:
    """Fetch these jobs' images into storage and record each outcome.

    The images of a batch are fetched at the same time, so the fourth is stored about
    when the first is instead of after it; the database is written here, in the tracking
    thread, so the fetching threads need no connection of their own.
    """
    if not jobs:
        return
    Job.objects.filter(pk__in=[job.pk for job in jobs]).update(download_attempts=F("download_attempts") + 1)
    for job in jobs:
        job.download_attempts += 1
    if len(jobs) == 1:
        _record_download(_fetch(jobs[0]))
        return
    unexpected = None
    workers = min(len(jobs), DOWNLOAD_CONCURRENCY)
    with ThreadPoolExecutor(workers, thread_name_prefix="soul-fetch") as pool:
        for future in [pool.submit(_fetch, job) for job in jobs]:
            try:
                _record_download(future.result())
            except Exception as exc:  # re-raised below, once the others are recorded
                unexpected = unexpected or exc
    if unexpected is not None:
        raise unexpected


def _fetch(job: Job) -> _Fetched:
    outcome = _Fetched(job, time.monotonic())
    try:
        outcome.raw = downloads.fetch(job, job.raw_url, "raw")
        outcome.preview = downloads.fetch(job, job.min_url, "min") if job.min_url else None
    except soul.SoulError as exc:
        outcome.error = exc
    return outcome


def _record_download(outcome: _Fetched) -> None:
    job = outcome.job
    asked = f"GET {job.raw_url}" + (f" and {job.min_url}" if job.min_url else "")
    if outcome.error is not None:
        job.download_error = outcome.error.message
        Job.objects.filter(pk=job.pk).update(download_error=job.download_error)
        _record(job.job_set_id, Attempt.Kind.DOWNLOAD, outcome.started, asked, error=outcome.error)
        log.warning(
            "job %s: download attempt %s failed: %s", job.pk, job.download_attempts, job.download_error
        )
        return
    raw, preview = outcome.raw, outcome.preview
    job.image, job.width, job.height = raw.name, raw.width, raw.height
    job.preview = preview.name if preview else raw.name
    job.downloaded_at = timezone.now()
    job.download_error = ""
    # The spend roll-up counts this image when the job set finishes (``_finish``), which every
    # stored image leads to: refreshing it here too would redo a person's day once per image.
    job.save(update_fields=["image", "preview", "width", "height", "downloaded_at", "download_error"])
    _record(
        job.job_set_id,
        Attempt.Kind.DOWNLOAD,
        outcome.started,
        asked,
        status_code=200,
        answer=f"image {job.index + 1}: {raw.width}×{raw.height} stored",
    )


def _schedule_next(pk: int, jobs: list[Job]) -> None:
    now = timezone.now()
    job_set = JobSet.objects.get(pk=pk)
    if all(job.is_terminal for job in jobs):
        # Only downloads are left: back off on those, no need to poll.
        attempts = max(job.download_attempts for job in jobs)
        wait = backoff.delay(attempts, base=2.0, cap=60.0)
    else:
        wait = tracking.next_poll_delay(job_set, now)
    JobSet.objects.filter(pk=pk).update(
        due_at=now + timedelta(seconds=wait), claimed_by="", claimed_until=None
    )


# --- Finish -----------------------------------------------------------------------


def _finish(pk: int) -> None:
    with transaction.atomic():
        job_set = JobSet.objects.select_for_update().get(pk=pk)
        jobs = list(job_set.jobs.all())
        status, reason = _outcome(jobs)
        job_set.status = status
        job_set.status_reason = reason
        job_set.charge = charge_for(status, [job.status for job in jobs])
        job_set.finished_at = timezone.now()
        job_set.due_at = None
        job_set.claimed_by, job_set.claimed_until = "", None
        job_set.save()
        spend_days.refresh(job_set)
    tracking.forget_typical()


def _outcome(jobs: list[Job]) -> tuple[str, str]:
    counts = Counter(job.status for job in jobs)
    total = len(jobs)
    completed = counts["completed"]
    if completed:
        notes = []
        if completed < total:
            others = ", ".join(f"{n} {status}" for status, n in counts.items() if status != "completed")
            notes.append(f"{completed} of {total} images finished ({others}).")
        lost = [job for job in jobs if job.needs_download]
        if lost:
            why = lost[0].download_error or "unknown error"
            notes.append(f"{len(lost)} image(s) could not be downloaded ({why}); use “Retry download”.")
        return Status.COMPLETED, " ".join(notes)
    if counts["nsfw"] == total:
        return Status.NSFW, "The gateway blocked the result as NSFW. Nothing was charged."
    if counts["canceled"] == total:
        return Status.CANCELED, "The gateway canceled the generation. Nothing was charged."
    detail = ", ".join(f"{n} {status}" for status, n in counts.items())
    return Status.FAILED, f"The gateway could not generate the image ({detail}). Nothing was charged."


def _end(job_set: JobSet, status: str, reason: str) -> None:
    """Move a job set straight to a terminal state with a reason."""
    statuses = list(job_set.jobs.values_list("status", flat=True))
    with transaction.atomic():
        JobSet.objects.filter(pk=job_set.pk).update(
            status=status,
            status_reason=reason,
            charge=charge_for(status, statuses),
            finished_at=timezone.now(),
            due_at=None,
            claimed_by="",
            claimed_until=None,
        )
        spend_days.refresh(job_set)
    log.info("job set %s ended %s: %s", job_set.pk, status, reason)


# --- What people and admins can do --------------------------------------------------


def cancel_waiting(job_set: JobSet) -> bool:
    """Cancel a job set still waiting here (never sent, so never charged). False if too late."""
    with transaction.atomic():
        done = JobSet.objects.filter(pk=job_set.pk, status=Status.WAITING).update(
            status=Status.CANCELED,
            status_reason="Canceled before it was sent. Nothing was charged.",
            charge=JobSet.Charge.RELEASED,
            finished_at=timezone.now(),
            due_at=None,
        )
        if done:
            spend_days.refresh(job_set)
    return bool(done)


def submit_again(job_set: JobSet, user, team) -> JobSet:
    """A new job set with the same parameters (and a new idempotency key), for ``user`` in ``team``."""
    fields = {name: getattr(job_set, name) for name in JobSet.PARAMETER_FIELDS}
    if job_set.team_id != team.pk:
        # Characters and uploads belong to the team they were made in.
        fields.update(
            character=None, custom_reference_id=None, custom_reference_strength=None, reference_upload=None
        )
    return create_job_set(user, {**fields, "team": team})


def retry_downloads(job_set: JobSet) -> int:
    """Try the failed downloads of a finished job set again (the tracker picks it up)."""
    pending = job_set.jobs.filter(status="completed", image="").exclude(raw_url="")
    count = pending.update(download_attempts=0, download_error="")
    if count:
        JobSet.objects.filter(pk=job_set.pk).update(
            status=Status.IN_PROGRESS,
            status_reason="Downloading the images again.",
            due_at=timezone.now(),
            finished_at=None,
        )
        tracking.wake()
    return count


def poll_now(job_set: JobSet) -> bool:
    done = JobSet.objects.filter(pk=job_set.pk, status__in=(Status.SUBMITTED, Status.IN_PROGRESS)).update(
        due_at=timezone.now()
    )
    if done:
        tracking.wake()
    return bool(done)


def mark_failed(job_set: JobSet, who: str) -> bool:
    if job_set.status not in JobSet.PENDING and job_set.status != Status.UNCONFIRMED:
        return False
    _end(job_set, Status.FAILED, f"Marked failed by {who}.")
    Attempt.objects.create(job_set=job_set, kind=Attempt.Kind.ADMIN, asked=f"mark failed ({who})")
    return True


def settle_unconfirmed(job_set: JobSet, charged: bool, who: str) -> bool:
    """A person has checked with the gateway whether an unconfirmed submit went through."""
    charge = JobSet.Charge.CHARGED if charged else JobSet.Charge.RELEASED
    verdict = "it was charged" if charged else "it was not charged"
    with transaction.atomic():
        done = JobSet.objects.filter(
            pk=job_set.pk, status=Status.UNCONFIRMED, charge=JobSet.Charge.RESERVED
        ).update(charge=charge, status_reason=f"{job_set.status_reason} Settled by {who}: {verdict}.")
        if done:
            spend_days.refresh(job_set)
            Attempt.objects.create(
                job_set=job_set, kind=Attempt.Kind.ADMIN, asked=f"settle unconfirmed ({who})", answer=verdict
            )
    return bool(done)


def webhook_hint(token: str) -> JobSet | None:
    """A callback arrived for this token: poll that job set now. The poll stays the truth."""
    job_set = JobSet.objects.filter(webhook_token=token).first()
    if job_set is None:
        return None
    JobSet.objects.filter(
        pk=job_set.pk, status__in=(Status.SUBMITTED, Status.IN_PROGRESS), due_at__gt=timezone.now()
    ).update(due_at=timezone.now())
    return job_set


# --- Recovery and claims -------------------------------------------------------------


def recover_abandoned_sends() -> int:
    """Job sets a killed worker left mid-send: their fate upstream is unknown."""
    now = timezone.now()
    count = 0
    for job_set in JobSet.objects.filter(status=Status.SENDING, claimed_until__lt=now):
        if job_set.upstream_id:
            # The answer arrived before the crash: carry on tracking it.
            JobSet.objects.filter(pk=job_set.pk, status=Status.SENDING).update(
                status=Status.SUBMITTED, due_at=now, claimed_by="", claimed_until=None
            )
        else:
            _end(
                job_set,
                Status.UNCONFIRMED,
                "The worker stopped while sending this to the gateway, so soulsite cannot tell whether it "
                "was accepted (and charged). If no images arrive, use “Submit again”.",
            )
        count += 1
    return count


def claim_due(worker: str, limit: int, exclude: set[int] = frozenset()) -> list[int]:
    """Claim up to ``limit`` in-flight job sets whose next check has come.

    Each claim is a conditional UPDATE, so two workers never hold one job set;
    a claim expires, so a killed worker's job sets are taken over.
    """
    if limit <= 0:
        return []
    now = timezone.now()
    unclaimed = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    due = JobSet.objects.filter(unclaimed, status__in=(Status.SUBMITTED, Status.IN_PROGRESS), due_at__lte=now)
    candidates = list(due.exclude(pk__in=exclude).order_by("due_at").values_list("pk", flat=True)[:limit])
    claimed = []
    until = now + timedelta(seconds=CLAIM_SECONDS)
    for pk in candidates:
        if JobSet.objects.filter(unclaimed, pk=pk, due_at__lte=now).update(
            claimed_by=worker, claimed_until=until
        ):
            claimed.append(pk)
    return claimed


def renew_claims(worker: str, pks: list[int]) -> None:
    if pks:
        until = timezone.now() + timedelta(seconds=CLAIM_SECONDS)
        JobSet.objects.filter(pk__in=pks, claimed_by=worker, status__in=JobSet.IN_FLIGHT).update(
            claimed_until=until
        )


def next_due_in(now=None) -> float | None:
    """Seconds until some job set needs a worker (0 if one is due), None if none is pending."""
    now = now or timezone.now()
    pending = JobSet.objects.filter(status__in=(Status.WAITING, Status.SUBMITTED, Status.IN_PROGRESS))
    due_at = pending.filter(due_at__isnull=False).order_by("due_at").values_list("due_at", flat=True).first()
    if due_at is None:
        return 0.0 if JobSet.objects.filter(status=Status.SENDING).exists() else None
    return max(0.0, (due_at - now).total_seconds())
