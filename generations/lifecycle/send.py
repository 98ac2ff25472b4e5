"""Sending: claim the next waiting job set under the in-flight cap, send it, and act on the answer.

Each step is its own short transaction; no transaction is ever held open across
the HTTP call. What each gateway answer leads to follows the error table in
docs/UPSTREAM.md; where soulsite departs from it, docs/DECISIONS.md says why.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django_q.tasks import async_task

from generations.lifecycle import (
    attempts,
    backoff,
    claims,
    finish,
    leases,
    line,
    policy,
    queueing,
    reports,
    shutdown,
    timing,
)
from generations.models import Attempt, JobSet, Team
from generations.upstream import client as soul
from generations.upstream import gateway, references

log = logging.getLogger(__name__)
Status = JobSet.Status

SEND_SLOTS = "send-slots"
# One call sends at most this many, then leaves the rest to the next (the tracker looks every
# quarter second, and a finished job set fills its slot at once). Each send may take the whole
# connect + read timeout (35 s by default), and a task must end well inside django-q2's
# 120 s task timeout, or the timeout kills it mid-send and its job set becomes unconfirmed:
# 3 x 35 s = 105 s. A fresh site's whole cap (4) fills within two calls.
SEND_BATCH = 3


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


def holding_a_slot(now: datetime) -> Q:
    """Unconfirmed job sets that still count against the in-flight cap.

    The gateway may have accepted one, and then it runs there and counts against the
    account's concurrency like any other, until it finishes. So it holds its slot until a
    person settles it, a resend gets an answer, or SOUL_UNCONFIRMED_HOLD seconds have passed
    since it was sent: by then the gateway has finished or refused it (Soul takes 5 to 140 s).
    """
    since = now - timedelta(seconds=settings.SOUL_UNCONFIRMED_HOLD)
    return Q(status=Status.UNCONFIRMED, charge=JobSet.Charge.RESERVED) & Q(
        Q(sent_at__gte=since) | Q(sent_at__isnull=True, finished_at__gte=since)
    )


def in_flight(now: datetime | None = None) -> QuerySet:
    """Job sets counted against the in-flight cap: sent and not finished, or sent with no answer lately.

    The one definition, for the cap, a person's and a team's counts alike. A job set that gave
    its slot back (stuck, or a person stopped waiting for it) no longer counts, though the
    gateway may still be working on it: the limit is soulsite's, to keep the line moving.
    """
    now = now or timezone.now()
    return JobSet.objects.filter(Q(status__in=JobSet.IN_FLIGHT) | holding_a_slot(now)).filter(
        slot_freed_at__isnull=True
    )


def in_flight_count(now: datetime | None = None) -> int:
    return in_flight(now).count()


def in_flight_counts(now: datetime) -> tuple[dict[int, int], dict[int | None, int], int]:
    """In flight per person, per team, and in all (one grouped query)."""
    by_user: Counter = Counter()
    by_team: Counter = Counter()
    rows = in_flight(now).values_list("user_id", "team_id").annotate(n=Count("id")).order_by()
    for user_id, team_id, n in rows:
        by_user[user_id] += n
        by_team[team_id] += n
    return dict(by_user), dict(by_team), sum(by_user.values())


def team_rules() -> tuple[dict[int, int], set[int]]:
    """Each team's share of the limit (where set), and the teams whose queue is paused."""
    rows = Team.objects.filter(Q(max_in_flight__isnull=False) | Q(queue_paused_at__isnull=False))
    shares, paused = {}, set()
    for pk, share, paused_at in rows.values_list("id", "max_in_flight", "queue_paused_at"):
        if share is not None:
            shares[pk] = share
        if paused_at is not None:
            paused.add(pk)
    return shares, paused


def send_waiting(worker: str, limit: int = SEND_BATCH, until: float | None = None) -> int:
    """Send up to ``limit`` waiting job sets, oldest first, while the in-flight cap allows.

    ``until``: a ``time.monotonic()`` after which no new send starts. It stops early, too,
    when the cluster is stopping. Returns how many were sent.
    """
    sent = 0
    while sent < limit and not shutdown.requested():
        if until is not None and time.monotonic() >= until:
            break
        job_set = claim_next(worker)
        if job_set is None:
            break
        _send(job_set)
        sent += 1
    return sent


def claim_next(worker: str) -> JobSet | None:
    """The next waiting job set by the fair-share rule (``queueing.pick_next``), claimed for sending."""
    if gateway.is_paused():
        return None
    now = timezone.now()
    cap = gateway.max_in_flight()
    with transaction.atomic():
        # One sender at a time decides who takes a slot: a row lock on
        # PostgreSQL; on SQLite the IMMEDIATE transaction already serialises.
        leases.lock_row(SEND_SLOTS)
        by_user, by_team, total = in_flight_counts(now)
        if total >= cap:
            return None
        shares, paused = team_rules()
        chosen = queueing.pick_next(line.heads(now, paused), by_user, by_team, total, cap, shares, paused)
        if chosen is None or not claims.claim_to_send(chosen.id, worker, now):
            return None
    return JobSet.objects.get(pk=chosen.id)


def _send(job_set: JobSet) -> None:
    try:
        payload = request_body(job_set)
    except Exception as exc:
        # Nothing went out, so it goes back in the queue rather than being left claimed;
        # the other job sets of the batch are not held back by this one.
        log.exception("could not build the request of job set %s", job_set.pk)
        problem = soul.SoulError(f"Soulsite could not prepare the request ({type(exc).__name__}).")
        retry_later(job_set, problem, "")
        return
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
            f"We sent this but got no answer. {exc.message} The gateway may have accepted (and charged) "
            "it, so soulsite will not send it again by itself.",
        )
    elif isinstance(exc, (soul.Unauthorized, soul.AccessDenied)):
        gateway.pause(exc)
        _give_up(job_set, _refusal(exc))
    elif isinstance(exc, soul.ConcurrencyLimited):
        gateway.note_concurrency_limit(in_flight_count() - 1)
        retry_later(job_set, exc, "The gateway is busy with other requests.")
    elif isinstance(exc, soul.Unavailable):
        retry_later(job_set, exc, "Soul is unavailable for now.", base=30.0, cap=900.0)
    elif exc.retryable:
        retry_later(job_set, exc, "")
    else:
        _give_up(job_set, _refusal(exc))


def _refusal(exc: soul.SoulError) -> str:
    return policy.refusal(
        exc.message,
        key_refused=isinstance(exc, soul.Unauthorized),
        access_denied=isinstance(exc, soul.AccessDenied),
    )


def _give_up(job_set: JobSet, reason: str) -> None:
    """Stop sending it: failed, unless an earlier try went unanswered (then it may have been charged).

    A job set sent again after going unconfirmed keeps its price reserved whatever this try
    came to: only an answer from the gateway or a person may release that money.
    """
    if attempts.sent_again_at(job_set.pk) is None:
        finish.end(job_set, Status.FAILED, reason)
        return
    finish.end(
        job_set,
        Status.UNCONFIRMED,
        f"Sending it again did not go through: {reason.replace(' Nothing was charged.', '')} The first "
        "request may still have been made and charged, so its price stays reserved. Send it again "
        "later, or ask an admin to settle it.",
    )


def retry_later(
    job_set: JobSet, exc: soul.SoulError, why: str, base: float = 2.0, cap: float = 300.0
) -> None:
    """Put it back in the queue, due after a backoff; or give up once it has waited too long."""
    now = timezone.now()
    sent_again = attempts.sent_again_at(job_set.pk)
    # A job set sent again days later gets the same time to go through as a new one.
    since = sent_again or job_set.created_at
    if policy.gave_up((now - since).total_seconds(), settings.SOUL_POLL_GIVE_UP):
        _give_up(
            job_set,
            f"Gave up sending after {job_set.send_attempts} attempts: {exc.message}. Nothing was charged.",
        )
        return
    wait = backoff.delay(job_set.send_attempts, base=base, cap=cap, retry_after=exc.retry_after)
    due = now + timedelta(seconds=wait)
    money = (
        "Its price stays reserved: the first request may have been charged."
        if sent_again
        else "Nothing was charged."
    )
    reason = (
        f"{why + ' ' if why else ''}{exc.message} {money} Trying again at "
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
                "Soulsite was stopped while sending this to the gateway, so it cannot tell whether it "
                "was accepted (and charged).",
            )
        count += 1
    return count


def send_again(job_set: JobSet, who: str) -> bool:
    """Put an unconfirmed job set back in the queue, to go out again with its own idempotency key.

    The same row, the same key: if the gateway took the first request it answers this one
    with that job set (Higgsfield honours ``Idempotency-Key``), so nothing is made or charged
    twice; if it never got it, this one is the first. Its price stays reserved throughout.
    False when it is not (or no longer) unconfirmed with its money reserved.
    """
    if not policy.may_send_again(job_set.status, job_set.charge):
        return False
    with transaction.atomic():
        done = claims.release(
            JobSet.objects.filter(pk=job_set.pk, status=Status.UNCONFIRMED, charge=JobSet.Charge.RESERVED),
            status=Status.WAITING,
            status_reason="Sending it again as the same request: "
            "the gateway will not make or charge it twice.",
            due_at=timezone.now(),
            finished_at=None,
            sent_at=None,
        )
        if done:
            # Also what tells the sender, later, that an earlier try may have been charged.
            attempts.note(job_set.pk, Attempt.Kind.ADMIN, f"{attempts.SENT_AGAIN} ({who})")
    return bool(done)
