"""Fetching finished images into storage, a batch's images at the same time, and recording each outcome."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.db.models import F
from django.utils import timezone

from generations.lifecycle import attempts
from generations.models import Attempt, Job
from generations.upstream import client as soul
from generations.upstream import downloads

log = logging.getLogger(__name__)

# A finished image is fetched at most this many times, with backoff; after that its job set
# finishes with a reason and a "Retry download" button (docs/DECISIONS.md).
MAX_DOWNLOAD_ATTEMPTS = 5
# A batch holds at most four images: all of them are fetched at once.
DOWNLOAD_CONCURRENCY = 4


def wanted(job: Job) -> bool:
    """A finished image not stored yet, with tries left."""
    return job.needs_download and job.download_attempts < MAX_DOWNLOAD_ATTEMPTS


@dataclass
class _Fetched:
    """What fetching one job's images gave: both stored files, or the reason they are not."""

    job: Job
    started: float
    raw: downloads.Stored | None = None
    preview: downloads.Stored | None = None
    error: soul.SoulError | None = None


def download(jobs: list[Job]) -> None:
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
        _record(_fetch(jobs[0]))
        return
    unexpected = None
    workers = min(len(jobs), DOWNLOAD_CONCURRENCY)
    with ThreadPoolExecutor(workers, thread_name_prefix="soul-fetch") as pool:
        for future in [pool.submit(_fetch, job) for job in jobs]:
            try:
                _record(future.result())
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


def _record(outcome: _Fetched) -> None:
    job = outcome.job
    asked = f"GET {job.raw_url}" + (f" and {job.min_url}" if job.min_url else "")
    if outcome.error is not None:
        job.download_error = outcome.error.message
        Job.objects.filter(pk=job.pk).update(download_error=job.download_error)
        attempts.record(job.job_set_id, Attempt.Kind.DOWNLOAD, outcome.started, asked, error=outcome.error)
        log.warning(
            "job %s: download attempt %s failed: %s", job.pk, job.download_attempts, job.download_error
        )
        return
    raw, preview = outcome.raw, outcome.preview
    job.image, job.width, job.height = raw.name, raw.width, raw.height
    job.preview = preview.name if preview else raw.name
    job.downloaded_at = timezone.now()
    job.download_error = ""
    # The spend roll-up counts this image when the job set finishes (generations.lifecycle.finish),
    # which every stored image leads to: refreshing it here too would redo a person's day once per image.
    job.save(update_fields=["image", "preview", "width", "height", "downloaded_at", "download_error"])
    attempts.record(
        job.job_set_id,
        Attempt.Kind.DOWNLOAD,
        outcome.started,
        asked,
        status_code=200,
        answer=f"image {job.index + 1}: {raw.width}×{raw.height} stored",
    )
