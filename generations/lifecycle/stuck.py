"""The bound on stuck: a job set with the gateway far longer than usual gives its slot back.

A job set that never finishes upstream would otherwise hold its in-flight slot until the
tracker gives up on it (two hours), and with a few of them a whole team waits. Past
max(SOUL_STUCK_MIN_SECONDS, 4 x the recent 90th percentile of its kind) it stops counting
against the limit (``slot_freed_at``, by nobody): it is still polled, more slowly, and
charged as usual when it finishes. The tracker's housekeeping asks once a second.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from generations.lifecycle import attempts, timing
from generations.models import Attempt, JobSet

# How many times the usual slowest (90th percentile) counts as unusually long.
LATE_FACTOR = 4


def bound_seconds(late: float | None, minimum: float) -> float:
    """Seconds in flight after which a job set gives its slot back (pure)."""
    return max(minimum, LATE_FACTOR * late) if late is not None else minimum


def is_past_bound(elapsed: float, late: float | None, minimum: float) -> bool:
    return elapsed > bound_seconds(late, minimum)


def free_stuck_slots(now: datetime | None = None) -> list[int]:
    """Give back the slots of job sets past the bound; returns their ids.

    One indexed query (status) for those sent before the shortest possible bound; each of
    those few is then judged against its own kind's history.
    """
    now = now or timezone.now()
    minimum = settings.SOUL_STUCK_MIN_SECONDS
    candidates = JobSet.objects.filter(
        status__in=JobSet.POLLED, slot_freed_at__isnull=True, sent_at__lt=now - timedelta(seconds=minimum)
    ).values_list("pk", "sent_at", "quality", "batch_size")
    freed = []
    for pk, sent_at, quality, batch_size in candidates:
        usual = timing.durations(quality, batch_size)
        elapsed = (now - sent_at).total_seconds()
        if not is_past_bound(elapsed, usual.late if usual else None, minimum):
            continue
        done = JobSet.objects.filter(pk=pk, status__in=JobSet.POLLED, slot_freed_at__isnull=True).update(
            slot_freed_at=now, slot_freed_by=None
        )
        if done:
            minutes = max(1, round(elapsed / 60))
            attempts.note(
                pk,
                Attempt.Kind.QUEUE,
                f"gave its slot back after {minutes} minute{'s' if minutes != 1 else ''}: "
                "taking unusually long",
            )
            freed.append(pk)
    return freed
