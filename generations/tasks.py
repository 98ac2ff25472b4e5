"""django-q2 entry points: thin, they take ids and call the lifecycle."""

from __future__ import annotations

from generations.lifecycle import send, tracker


def send_waiting() -> str:
    """Send waiting job sets while the in-flight cap allows, then make sure tracking runs."""
    sent = send.send_waiting(tracker.worker_name())
    tracker.wake()
    return f"sent {sent}"


def track(after_start: bool = False) -> str:
    """The tracker loop (started by a submit, its predecessor, a cluster start, or the minute Schedule)."""
    return tracker.run(patient=after_start)
