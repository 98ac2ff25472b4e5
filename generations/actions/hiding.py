"""Hiding images, and the job set's ``hidden`` mark that lets the gallery skip hidden work cheaply.

A job set is hidden when it has images and every one of them is hidden. The
gallery filters on that mark instead of asking the jobs table for each job set:
on PostgreSQL that question read the whole jobs table on every page. Images are
hidden and shown again only here, so the mark is recomputed here, in the same
transaction.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from generations.models import Job, JobSet


def hide(jobs: QuerySet[Job], user) -> list[int]:
    """Hide these images; returns their ids (for undo)."""
    with transaction.atomic():
        ids = list(jobs.values_list("pk", flat=True))
        Job.objects.filter(pk__in=ids).update(hidden_at=timezone.now(), hidden_by=user)
        refresh(_job_sets_of(ids))
    return ids


def unhide(jobs: QuerySet[Job]) -> int:
    """Show these images again; returns how many."""
    with transaction.atomic():
        ids = list(jobs.values_list("pk", flat=True))
        count = Job.objects.filter(pk__in=ids).update(hidden_at=None, hidden_by=None)
        refresh(_job_sets_of(ids))
    return count


def refresh(job_set_ids: Iterable[int]) -> None:
    """Recompute the ``hidden`` mark of these job sets from their images."""
    ids = list(job_set_ids)
    if not ids:
        return
    jobs = Job.objects.filter(job_set=OuterRef("pk"))
    all_hidden = Exists(jobs) & ~Exists(jobs.filter(hidden_at__isnull=True))
    JobSet.objects.filter(pk__in=ids).filter(all_hidden).update(hidden=True)
    JobSet.objects.filter(pk__in=ids).exclude(all_hidden).update(hidden=False)


def _job_sets_of(job_ids: list[int]) -> set[int]:
    return set(Job.objects.filter(pk__in=job_ids).values_list("job_set_id", flat=True))
