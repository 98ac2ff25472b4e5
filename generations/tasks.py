"""django-q2 entry points: thin, they take ids and call the lifecycle.

Each does a bounded amount and leaves the rest to the next run, and none holds anything a
kill could lose: ``send_waiting`` sends at most a batch (``send.SEND_BATCH``) and leaves
what still waits to the tracker, which it wakes; ``track`` runs the tracker loop for at most
``tracker.LOOP_SECONDS`` and enqueues its successor. A job set is claimed only for the one
step in hand, and a claim runs out: a task killed at any line leaves each job set waiting,
sent, or (killed mid-send) recovered as unconfirmed with the reason (docs/DECISIONS.md).
"""

from __future__ import annotations

from generations.lifecycle import send, tracker


def send_waiting() -> str:
    """Send a batch of waiting job sets while the in-flight cap allows, then make sure tracking runs."""
    sent = send.send_waiting(tracker.worker_name(), limit=send.SEND_BATCH)
    # The tracker sends what is left (and tracks what was sent).
    tracker.wake()
    return f"sent {sent}"


def track(after_start: bool = False) -> str:
    """The tracker loop (started by a submit, its predecessor, a cluster start, or the minute Schedule)."""
    return tracker.run(patient=after_start)
