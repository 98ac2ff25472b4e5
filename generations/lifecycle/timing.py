"""When to poll a job set: learned from how long recent job sets of the same kind took.

The arithmetic is generations.lifecycle.policy.poll_delay (a timetable made from
the recent durations); this module gathers what it needs: the durations of the last
few job sets of the same quality and batch size (cached briefly) and whether
callbacks have been arriving lately.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from generations.lifecycle import policy
from generations.lifecycle.policy import Durations
from generations.models import Attempt, JobSet

HISTORY_SIZE = 40
MIN_HISTORY = 5
TYPICAL_TTL = 30.0
# A job set that gave its slot back (stuck, or nobody waits for it) is polled no more often than
# this: it may still finish and is charged if it does, but nobody is watching the seconds.
FREED_POLL_GAP = 30.0

_durations_cache: dict[tuple[str, int], tuple[float, Durations | None]] = {}
_durations_lock = threading.Lock()


def durations(quality: str, batch_size: int) -> Durations | None:
    """What the last few job sets of this kind took (cached briefly); None before enough history."""
    key = (quality, batch_size)
    with _durations_lock:
        cached = _durations_cache.get(key)
        if cached and time.monotonic() - cached[0] < TYPICAL_TTL:
            return cached[1]
    rows = list(
        JobSet.objects.filter(
            status=JobSet.Status.COMPLETED,
            quality=quality,
            batch_size=batch_size,
            sent_at__isnull=False,
            finished_at__isnull=False,
        )
        .order_by("-finished_at")
        .values_list("sent_at", "finished_at")[:HISTORY_SIZE]
    )
    seconds = [(finished - sent).total_seconds() for sent, finished in rows]
    # The durations themselves go with the summary: the poll timetable follows their spread.
    value = policy.summarize(seconds) if len(seconds) >= MIN_HISTORY else None
    with _durations_lock:
        _durations_cache[key] = (time.monotonic(), value)
    return value


def forget_typical() -> None:
    """A job set just finished: the next question about durations reads them afresh."""
    with _durations_lock:
        _durations_cache.clear()


_callbacks_seen: tuple[float, bool] = (0.0, False)


def callbacks_arrive() -> bool:
    """Has the gateway called back lately? Pixazo's webhooks are undocumented: until callbacks
    are seen to arrive, polling stays as frequent as without them (checked once a minute)."""
    global _callbacks_seen
    checked, seen = _callbacks_seen
    if time.monotonic() - checked > 60:
        since = timezone.now() - timedelta(days=1)
        # ok=False: a refused callback (generations.actions.webhooks) is not one that arrives.
        seen = Attempt.objects.filter(kind=Attempt.Kind.WEBHOOK, ok=True, at__gte=since).exists()
        _callbacks_seen = (time.monotonic(), seen)
    return seen


def next_poll_delay(job_set: JobSet, now) -> float:
    """Seconds until the next poll of a job set still in flight (see ``policy.poll_delay``)."""
    elapsed = (now - (job_set.sent_at or job_set.created_at)).total_seconds()
    usual = durations(job_set.quality, job_set.batch_size)
    delay = policy.poll_delay(
        elapsed,
        usual,
        gap=settings.SOUL_POLL_GAP,
        probe=policy.is_probe(job_set.pk),
        # Asked only when it matters, as before: with history, and for a job set that has a webhook.
        called_back=bool(usual is not None and job_set.webhook_token and callbacks_arrive()),
    )
    return max(delay, FREED_POLL_GAP) if job_set.slot_freed_at else delay
