"""The local queue: each waiting job set's place in line, and the queue page's three lists."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count
from django.utils import timezone

from generations.lifecycle import timing
from generations.models import JobSet, Team
from generations.queries import access
from generations.queries.gallery import STATUS_GROUPS


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


@dataclass
class Queue:
    waiting: list[JobSet]  # oldest first
    positions: dict[int, int]  # of the waiting ones, by id
    flying: list[JobSet]  # sent first first, each with ``estimate``: seconds left, or None
    failed: list[JobSet]  # of the last week, newest first

    @property
    def pending(self) -> bool:
        return bool(self.waiting or self.flying)


def queue(user, team: Team | None) -> Queue:
    """What of ``team``'s work waits here, what is in flight (with an estimate), what failed lately."""
    mine = access.visible_job_sets(user).filter(team=team).select_related("user", "style")
    waiting = list(mine.filter(status=JobSet.Status.WAITING).order_by("created_at", "id"))
    flying = list(mine.filter(status__in=JobSet.IN_FLIGHT).order_by("sent_at", "id"))
    week_ago = timezone.now() - timedelta(days=7)
    failed = list(
        mine.filter(status__in=STATUS_GROUPS["failed"], created_at__gte=week_ago)
        .exclude(status=JobSet.Status.CANCELED)
        .order_by("-id")[:50]
    )
    now = timezone.now()
    for job_set in flying:
        usual = timing.durations(job_set.quality, job_set.batch_size)
        elapsed = (now - (job_set.sent_at or job_set.created_at)).total_seconds()
        job_set.estimate = None if usual is None else max(0, int(usual.typical - elapsed))
    return Queue(waiting, queue_positions(waiting), flying, failed)
