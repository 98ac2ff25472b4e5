"""Reads: what a person may see, gallery pages, spend totals."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Count, Q, QuerySet, Sum

from .models import Job, JobSet

GALLERY_PAGE_SIZE = 48
CENT = Decimal("0.01")


def cents(value) -> Decimal:
    return Decimal(str(value or 0)).quantize(CENT)


def visible_job_sets(user) -> QuerySet[JobSet]:
    """The job sets ``user`` may see: their own."""
    return JobSet.objects.filter(user=user)


def visible_jobs(user) -> QuerySet[Job]:
    return Job.objects.filter(job_set__user=user)


def gallery_page(user, before: int | None = None, size: int = GALLERY_PAGE_SIZE) -> list[JobSet]:
    """Newest first, ``size`` at a time, on a stable cursor (the id of the last card seen)."""
    query = visible_job_sets(user).select_related("style").prefetch_related("jobs").order_by("-id")
    if before is not None:
        query = query.filter(id__lt=before)
    return list(query[:size])


def spend_total(user) -> dict[str, Decimal]:
    """What ``user`` has spent: charged, and reserved by job sets not yet finished."""
    totals = JobSet.objects.filter(user=user).aggregate(
        charged=Sum("price", filter=Q(charge=JobSet.Charge.CHARGED)),
        reserved=Sum("price", filter=Q(charge=JobSet.Charge.RESERVED)),
    )
    # SQLite adds decimals as floats: bring the sums back to whole cents.
    charged = cents(totals["charged"])
    reserved = cents(totals["reserved"])
    return {"charged": charged, "reserved": reserved, "total": charged + reserved}


def queue_positions(job_sets: list[JobSet]) -> dict[int, int]:
    """Place in the local queue (1 = next to be sent) of each waiting job set given."""
    waiting = [js for js in job_sets if js.status == JobSet.Status.WAITING]
    if not waiting:
        return {}
    oldest = min(js.id for js in waiting)
    ahead = JobSet.objects.filter(status=JobSet.Status.WAITING, id__gte=oldest).values_list("id", flat=True)
    ordered = sorted(ahead)
    base = JobSet.objects.filter(status=JobSet.Status.WAITING, id__lt=oldest).aggregate(n=Count("id"))["n"]
    position = {pk: base + index + 1 for index, pk in enumerate(ordered)}
    return {js.id: position[js.id] for js in waiting if js.id in position}
