"""Keeping images: stars, collections, and marking an image kept when it is downloaded full size.

The spend page counts kept images (starred, or downloaded full size), so each
change here recounts the daily roll-up rows of the images' job sets in the same
transaction (generations.ledger.rollup). Hiding is generations.actions.hiding.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from generations.ledger import rollup
from generations.models import Collection, CollectionItem, Favourite, Job, Team


def toggle_star(user, job: Job) -> bool:
    """Star the image, or take its star away if it had one; True if it is starred now."""
    with transaction.atomic():
        removed, _ = Favourite.objects.filter(user=user, job=job).delete()
        if not removed:
            Favourite.objects.get_or_create(user=user, job=job)
        rollup.refresh_for_jobs([job.pk])
    return not removed


def star(user, jobs: QuerySet[Job]) -> None:
    """Star every one of these images (those starred already stay so)."""
    with transaction.atomic():
        Favourite.objects.bulk_create([Favourite(user=user, job=job) for job in jobs], ignore_conflicts=True)
        rollup.refresh_for_jobs(jobs)


def unstar(user, jobs: QuerySet[Job]) -> None:
    with transaction.atomic():
        Favourite.objects.filter(user=user, job__in=jobs).delete()
        rollup.refresh_for_jobs(jobs)


def collection_named(team: Team, owner, name: str, shared: bool) -> Collection:
    """``owner``'s collection of this name in ``team``, made now if they have none (names are cut to 100)."""
    name = name[:100]
    try:
        with transaction.atomic():
            return Collection.objects.create(team=team, owner=owner, name=name, shared=shared)
    except IntegrityError:
        return Collection.objects.get(team=team, owner=owner, name=name)


def file_in(collection: Collection, jobs: Iterable[Job], user) -> None:
    """Put these images in ``collection`` (those in it already stay once)."""
    CollectionItem.objects.bulk_create(
        [CollectionItem(collection=collection, job=job, added_by=user) for job in jobs], ignore_conflicts=True
    )


def mark_kept(job_ids: Iterable[int]) -> int:
    """Mark these stored images kept (downloaded full size), those not kept yet; returns how many."""
    with transaction.atomic():
        ids = list(job_ids)
        not_kept = Job.objects.filter(pk__in=ids, kept_at__isnull=True, image__gt="")
        marked = not_kept.update(kept_at=timezone.now())
        if marked:
            rollup.refresh_for_jobs(ids)
    return marked
