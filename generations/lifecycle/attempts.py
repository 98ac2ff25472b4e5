"""The attempt history: every exchange with the gateway about a job set, and what people did to it.

Every submit, every failed request, every download and every poll that changed
something is kept, so an admin can see why a job set is where it is; polls that
saw nothing new are only counted on the job set (docs/DECISIONS.md).
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime

from generations.models import Attempt
from generations.upstream import client as soul

# The note of a person sending an unconfirmed job set again (generations.lifecycle.send.send_again).
SENT_AGAIN = "send again with the same key"


def record(
    job_set_id: int,
    kind: str,
    started: float,
    asked: str,
    *,
    error: soul.SoulError | None = None,
    status_code: int | None = None,
    answer: str = "",
) -> None:
    """One timed exchange: ``started`` is the ``time.monotonic()`` it began at."""
    Attempt.objects.create(
        job_set_id=job_set_id,
        kind=kind,
        duration_ms=int((time.monotonic() - started) * 1000),
        asked=asked,
        status_code=error.status if error else status_code,
        ok=error is None,
        answer=f"{type(error).__name__}: {error.message}" if error else answer,
    )


def note(job_set_id: int, kind: str, asked: str, answer: str = "") -> None:
    """Something that was not a request of ours: a callback received, an admin's action."""
    Attempt.objects.create(job_set_id=job_set_id, kind=kind, asked=asked, answer=answer)


def summary(result: soul.JobSetResult) -> str:
    """A gateway answer in a few words: "job set <id>: 3 completed, 1 failed"."""
    statuses = Counter(job.status or "?" for job in result.jobs)
    jobs = ", ".join(f"{n} {status}" for status, n in statuses.items()) or result.status or "no jobs"
    return f"job set {result.id}: {jobs}"


def sent_again_at(job_set_id: int) -> datetime | None:
    """When a person last sent this job set again after a try that went unanswered (None: never).

    Such a job set may have been charged by that earlier try, whatever the next one comes to.
    """
    notes = Attempt.objects.filter(
        job_set_id=job_set_id, kind=Attempt.Kind.ADMIN, asked__startswith=SENT_AGAIN
    )
    return notes.order_by("-at").values_list("at", flat=True).first()
