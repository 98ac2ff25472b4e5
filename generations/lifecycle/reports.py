"""What the gateway reported about a job set, merged into its jobs (after a submit and after each poll)."""

from __future__ import annotations

import logging

from generations.lifecycle import policy
from generations.models import Job, JobSet
from generations.upstream import client as soul

log = logging.getLogger(__name__)


def merge_jobs(job_set: JobSet, result: soul.JobSetResult, now) -> None:
    """Create or update one Job per reported job."""
    known = {job.upstream_id: job for job in job_set.jobs.all()}
    next_index = len(known)
    for reported in result.jobs:
        job = known.get(reported.id)
        if job is None:
            job = Job(job_set=job_set, index=next_index, upstream_id=reported.id)
            next_index += 1
        if reported.status not in Job.TERMINAL | Job.PENDING:
            log.warning(
                "job set %s: unknown job status %r, treated as not finished", job_set.pk, reported.status
            )
        job.status = reported.status or job.status
        job.raw_url = reported.raw_url or job.raw_url
        job.min_url = reported.min_url or job.min_url
        if job.is_terminal and job.finished_at is None:
            job.finished_at = now
        job.save()


def pending_status(job_set: JobSet) -> str:
    """Queued upstream or in progress, from its jobs as stored (see ``policy.pending_status``)."""
    return policy.pending_status(job_set.jobs.values_list("status", flat=True))
