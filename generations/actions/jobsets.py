"""What people and admins do to job sets: ask for one, cancel it, send it again, nudge it, settle it.

Views and admin actions call these (the webhook receiver's are in actions.webhooks); they never call
generations.lifecycle themselves. Each is a short transaction of its own: the
tracker does the sending and polling (generations.lifecycle.tracker).
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import replace
from datetime import datetime

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from generations.ledger import budgets, rollup
from generations.lifecycle import attempts, finish, policy, send, tracker
from generations.models import Attempt, Job, JobSet, SoulRequest
from generations.upstream import gateway, references
from soulwire import params

# What create() and submit_again() raise when a budget would be passed: callers catch it from here.
BudgetExceeded = budgets.BudgetExceeded

Status = JobSet.Status


def create(user, team, request: SoulRequest, *, created_at: datetime | None = None) -> JobSet:
    """Store a new job set as waiting and, once committed, ask a worker to send it.

    Raises budgets.BudgetExceeded, having stored nothing, when a budget would be passed.
    ``created_at``: when it was asked for, if not now (tests and imports of history).
    """
    with transaction.atomic():
        price = request.price()
        budgets.hold(user, team, price)  # raises BudgetExceeded
        hooks = {}
        if settings.SOUL_PUBLIC_URL:
            hooks = {
                "webhook_token": secrets.token_urlsafe(32),
                # Standard Webhooks secret format: "whsec_" + base64 of the key bytes.
                "webhook_secret": "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
            }
        when = {"created_at": created_at} if created_at else {}
        job_set = JobSet.objects.create(
            user=user,
            team=team,
            price=price,
            status=Status.WAITING,
            due_at=timezone.now(),
            **when,
            **hooks,
            **request.job_set_fields(),
        )
        rollup.refresh(job_set)
        transaction.on_commit(send.enqueue_send)
    return job_set


def create_with_upload(user, team, request: SoulRequest, file: UploadedFile, content_type: str) -> JobSet:
    """Store an uploaded reference image and a job set that refers to it, both or neither."""
    with transaction.atomic():
        upload = references.store_upload(user, team, file, content_type)
        return create(user, team, request.with_upload(upload.pk))


def cancel_waiting(job_set: JobSet) -> bool:
    """Cancel a job set still waiting here (never sent, so never charged). False if too late."""
    if not policy.may_cancel(job_set.status):
        return False
    # Only from waiting: a worker may have claimed it for sending since it was read.
    return finish.end(
        job_set,
        Status.CANCELED,
        "Canceled before it was sent. Nothing was charged.",
        only_from=Status.WAITING,
    )


def submit_again(job_set: JobSet, user, team, *, new_seed: bool = False) -> JobSet:
    """A new job set with the same parameters (and a new idempotency key), for ``user`` in ``team``.

    Not for an unconfirmed job set nobody has settled: a new key could have it made and
    charged twice. That one is sent again as itself (``send_again``). ``new_seed``: "vary",
    see ``vary``.
    """
    request = job_set.soul_request()
    if job_set.team_id != team.pk:
        # Characters and uploads belong to the team they were made in.
        request = request.without_team_references()
    if new_seed:
        request = replace(request, seed=random_seed(exclude=request.seed))
    return create(user, team, request)


def vary(job_set: JobSet, user, team) -> JobSet:
    """The same request with a new seed: another take on the same idea (the viewer's "Vary").

    Always a new job set, an unconfirmed original included: a different seed is a different
    request, so it can never be the original made and charged twice.
    """
    return submit_again(job_set, user, team, new_seed=True)


def random_seed(exclude: int | None = None) -> int:
    """A seed Soul accepts, chosen here rather than by Soul: the card shows it, so it can be made again."""
    while True:
        seed = params.SEED_MIN + secrets.randbelow(params.SEED_MAX - params.SEED_MIN + 1)
        if seed != exclude:
            return seed


def is_sent_again_as_itself(job_set: JobSet) -> bool:
    """Whether "submit again" sends this very job set again (unconfirmed, unsettled) rather than a copy."""
    return policy.may_send_again(job_set.status, job_set.charge)


def send_again(job_set: JobSet, who: str) -> bool:
    """Send an unconfirmed job set again under its original idempotency key (never a second charge).

    It goes back to waiting, its price still reserved, and out again as the same request: a
    gateway that took the first one answers with that one. False if it is not unconfirmed,
    or has been settled already.
    """
    with transaction.atomic():
        done = send.send_again(job_set, who)
        if done:
            transaction.on_commit(send.enqueue_send)
    return done


def retry_downloads(job_set: JobSet) -> int:
    """Try the failed downloads of a finished job set again (the tracker picks it up)."""
    pending = job_set.jobs.filter(status=Job.COMPLETED, image="").exclude(raw_url="")
    count = pending.update(download_attempts=0, download_error="")
    if count:
        JobSet.objects.filter(pk=job_set.pk).update(
            status=Status.IN_PROGRESS,
            status_reason="Downloading the images again.",
            due_at=timezone.now(),
            finished_at=None,
        )
        tracker.wake()
    return count


def poll_now(job_set: JobSet) -> bool:
    """Check on a job set with the gateway now rather than at its next poll."""
    if not policy.may_poll_now(job_set.status):
        return False
    done = JobSet.objects.filter(pk=job_set.pk, status__in=JobSet.POLLED).update(due_at=timezone.now())
    if done:
        tracker.wake()
    return bool(done)


def mark_failed(job_set: JobSet, who: str) -> bool:
    """An admin gives up on a pending or unconfirmed job set."""
    if not policy.may_mark_failed(job_set.status):
        return False
    finish.end(job_set, Status.FAILED, f"Marked failed by {who}.")
    attempts.note(job_set.pk, Attempt.Kind.ADMIN, f"mark failed ({who})")
    return True


def settle_unconfirmed(job_set: JobSet, charged: bool, who: str) -> bool:
    """A person has checked with the gateway whether an unconfirmed submit went through."""
    if not policy.may_settle(job_set.status, job_set.charge):
        return False
    with transaction.atomic():
        verdict = finish.settle(job_set, charged, who)
        if verdict:
            attempts.note(job_set.pk, Attempt.Kind.ADMIN, f"settle unconfirmed ({who})", verdict)
    return verdict is not None


def resume_sending() -> None:
    """An admin fixed the key or the subscription: send what waits again."""
    gateway.resume()
    send.enqueue_send()
