"""django-q2 entry points: thin, they take ids and call services."""

from __future__ import annotations

from generations import services, tracking


def send_waiting() -> str:
    """Send waiting job sets while the in-flight cap allows, then make sure tracking runs."""
    sent = services.send_waiting(tracking.worker_name())
    tracking.wake()
    return f"sent {sent}"


def track(after_start: bool = False) -> str:
    """The tracker loop (started by a submit, its predecessor, a cluster start, or the minute Schedule)."""
    return tracking.run(patient=after_start)
