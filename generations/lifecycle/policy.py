"""What may happen to a job set next, what it comes to and what it costs: plain rules.

Everything here is a pure function of plain values (statuses, counts, seconds):
no database, no HTTP, no clock. It reads the status names and sets from the model
class (generations.models.JobSet and Job), where they are defined once, and never
queries. The rest of generations.lifecycle asks these questions and does the writing.

The charge rule: a job set's price is *reserved* from submission until it finishes.
It is *charged* if at least one of its jobs completed, and *released* if none did:
failed, nsfw and canceled generations are not charged upstream. An unconfirmed
submission (sent, no answer) stays reserved until a person settles it or sends it again
and the gateway answers, because the gateway may well have charged it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from generations.models import Job, JobSet

Status = JobSet.Status
Charge = JobSet.Charge


# --- What may happen next ------------------------------------------------------------


def is_tracked(status: str) -> bool:
    """Sent (or being sent) and not finished: the tracker looks after it."""
    return status in JobSet.IN_FLIGHT


def may_cancel(status: str) -> bool:
    """Only a job set still waiting here can be canceled: once sent, the gateway has it."""
    return status == Status.WAITING


def may_poll_now(status: str) -> bool:
    return status in JobSet.POLLED


def may_mark_failed(status: str) -> bool:
    return status in JobSet.PENDING or status == Status.UNCONFIRMED


def may_send_again(status: str, charge: str) -> bool:
    """An unconfirmed job set nobody has settled yet may go out again, as the same request (same key).

    Once settled, a person has found out what became of it: "Submit again" makes a new one.
    """
    return status == Status.UNCONFIRMED and charge == Charge.RESERVED


def may_settle(status: str, charge: str) -> bool:
    """A person may say whether an unconfirmed submit was charged, once."""
    return status == Status.UNCONFIRMED and charge == Charge.RESERVED


def gave_up(elapsed: float, give_up_seconds: float) -> bool:
    """Too long since it was asked for (sending) or sent (tracking): stop trying."""
    return elapsed > give_up_seconds


# --- What it comes to ------------------------------------------------------------------


def pending_status(job_statuses: Iterable[str]) -> str:
    """Queued upstream until some job has moved on, in progress from then."""
    if any(status != Job.QUEUED for status in job_statuses):
        return Status.IN_PROGRESS
    return Status.SUBMITTED


def outcome(job_statuses: Sequence[str], download_errors: Sequence[str] = ()) -> tuple[str, str]:
    """The status and reason of a job set whose jobs are all terminal.

    ``download_errors``: one entry per completed image that could not be stored (its
    error, or "" when unknown).
    """
    counts = Counter(job_statuses)
    total = len(job_statuses)
    completed = counts[Job.COMPLETED]
    if completed:
        notes = []
        if completed < total:
            others = ", ".join(f"{n} {status}" for status, n in counts.items() if status != Job.COMPLETED)
            notes.append(f"{completed} of {total} images finished ({others}).")
        if download_errors:
            why = download_errors[0] or "unknown error"
            notes.append(
                f"{len(download_errors)} image(s) could not be downloaded ({why}); use “Retry download”."
            )
        return Status.COMPLETED, " ".join(notes)
    if counts["nsfw"] == total:
        return Status.NSFW, "The gateway blocked the result as NSFW. Nothing was charged."
    if counts["canceled"] == total:
        return Status.CANCELED, "The gateway canceled the generation. Nothing was charged."
    detail = ", ".join(f"{n} {status}" for status, n in counts.items())
    return Status.FAILED, f"The gateway could not generate the image ({detail}). Nothing was charged."


def charge_for(status: str, job_statuses: Iterable[str]) -> str:
    if status == Status.UNCONFIRMED:
        return Charge.RESERVED
    if status not in JobSet.TERMINAL:
        return Charge.RESERVED
    if any(job_status == Job.COMPLETED for job_status in job_statuses):
        return Charge.CHARGED
    return Charge.RELEASED


# --- What to tell people -----------------------------------------------------------------


def refusal(message: str, *, key_refused: bool = False, access_denied: bool = False) -> str:
    """Why the gateway refused a submit: a wrong key (401), no credits or access (402/403), or the request."""
    if key_refused:
        return (
            f"The gateway refused soulsite's subscription key ({message}). Sending is paused "
            "until an admin fixes SOUL_API_KEY. Nothing was charged."
        )
    if access_denied:
        return (
            f"The gateway refused the request ({message}): the subscription may be out of credits "
            "or not allowed to use Soul. Sending is paused until an admin resumes it. Nothing was charged."
        )
    return f"The gateway refused the request: {message}. Nothing was charged."


def expired_reason(give_up_seconds: float) -> str:
    hours = give_up_seconds / 3600
    return f"The gateway did not finish it within {hours:g} hours, so soulsite stopped checking."


# --- When to poll ----------------------------------------------------------------------------

# Before any history exists: check often at first, then less often.
EARLY_INTERVAL, LATE_INTERVAL = 1.0, 5.0
# One job set in this many makes its first poll at half the usual first time. What is learned
# is when job sets were seen done, so the tracker would otherwise learn its own rhythm: a gateway
# that got faster would go on being polled as late as before. The probes see the change, for
# about one poll in every five job sets.
PROBE_EVERY = 5
# With webhooks on, how often to look anyway once a job set runs late.
WEBHOOK_FALLBACK_INTERVAL = 15.0


@dataclass(frozen=True)
class Durations:
    """How long Soul took lately for one quality and batch size, from submit to stored image."""

    early: float  # 10th percentile: the first poll goes out then
    typical: float  # the median: what the queue view's estimate is based on
    late: float  # 90th percentile: past it, polls thin out


def is_probe(job_set_id: int) -> bool:
    return job_set_id % PROBE_EVERY == 0


def poll_delay(
    elapsed: float, usual: Durations | None, *, gap: float, probe: bool = False, called_back: bool = False
) -> float:
    """Seconds until the next poll of a job set sent ``elapsed`` seconds ago.

    Soul gives no progress while it works, so the only guide is how long it took
    lately (``usual``). The first poll goes out when the quickest tenth would be done
    (a ``probe``'s earlier); then one every ``gap`` until the slowest tenth should be
    done; after that the gaps grow. The gap trades lag against requests: a finished image
    waits up to one gap for the poll that finds it (docs/DECISIONS.md, docs/BENCHMARKS.md).
    ``called_back``: the job set has a webhook and callbacks are seen to arrive.
    """
    if usual is None:
        # No history: every second for the first ten, then slowly longer gaps.
        return EARLY_INTERVAL if elapsed < 10 else min(LATE_INTERVAL, elapsed / 10)
    if called_back:
        # A callback will move the next poll to now: polls are only the fallback.
        if elapsed < usual.late * 1.2:
            return usual.late * 1.2 - elapsed
        return WEBHOOK_FALLBACK_INTERVAL
    if elapsed < usual.early:
        probe_at = usual.early / 2
        if probe and elapsed < probe_at:
            return max(0.2, probe_at - elapsed)
        return max(0.2, usual.early - elapsed)
    if elapsed < usual.late + gap:
        return gap
    # Running late: a little less often the longer it runs.
    return min(LATE_INTERVAL, max(gap, elapsed * 0.1))
