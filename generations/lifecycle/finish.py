"""The end of a job set: finished from its jobs, or ended early with a reason; and settling a charge.

Every change to a job set's charge after it was created goes through here, so this
is the one module of the lifecycle that refreshes the daily spend roll-up (in the same
transaction; creation is counted by generations.actions.jobsets.create). Stored
images are counted when their job set finishes, which every stored image leads to.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from generations.ledger import rollup
from generations.lifecycle import claims, policy, timing
from generations.models import JobSet

log = logging.getLogger(__name__)
Status = JobSet.Status


def finish(pk: int) -> None:
    """Finish a job set whose jobs are all settled: its outcome, reason and charge follow from them."""
    with transaction.atomic():
        job_set = JobSet.objects.select_for_update().get(pk=pk)
        jobs = list(job_set.jobs.all())
        statuses = [job.status for job in jobs]
        status, reason = policy.outcome(statuses, [job.download_error for job in jobs if job.needs_download])
        claims.release(
            JobSet.objects.filter(pk=pk),
            status=status,
            status_reason=reason,
            charge=policy.charge_for(status, statuses),
            finished_at=timezone.now(),
            due_at=None,
        )
        rollup.refresh(job_set)
    timing.forget_typical()


def end(job_set: JobSet, status: str, reason: str, *, only_from: str | None = None) -> bool:
    """Move a job set straight to a terminal state with a reason.

    ``only_from``: only if it is still in this status (False, and nothing written, if not).
    """
    statuses = list(job_set.jobs.values_list("status", flat=True))
    rows = JobSet.objects.filter(pk=job_set.pk)
    if only_from is not None:
        rows = rows.filter(status=only_from)
    with transaction.atomic():
        done = claims.release(
            rows,
            status=status,
            status_reason=reason,
            charge=policy.charge_for(status, statuses),
            finished_at=timezone.now(),
            due_at=None,
        )
        if done:
            rollup.refresh(job_set)
    if done:
        log.info("job set %s ended %s: %s", job_set.pk, status, reason)
    return bool(done)


def settle(job_set: JobSet, charged: bool, who: str) -> str | None:
    """Record what a person found out about an unconfirmed submit; the verdict, or None if not unconfirmed."""
    charge = JobSet.Charge.CHARGED if charged else JobSet.Charge.RELEASED
    verdict = "it was charged" if charged else "it was not charged"
    with transaction.atomic():
        done = JobSet.objects.filter(
            pk=job_set.pk, status=Status.UNCONFIRMED, charge=JobSet.Charge.RESERVED
        ).update(charge=charge, status_reason=f"{job_set.status_reason} Settled by {who}: {verdict}.")
        if done:
            rollup.refresh(job_set)
    return verdict if done else None
