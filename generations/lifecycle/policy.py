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

import bisect
import functools
import math
import statistics
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
# With recent durations known, a probe also polls every gap for this many gaps before the first
# poll, so that the quickest are learned close to when they finished (see ``_from_timetable``).
PROBE_LEAD = 4
# With webhooks on, how often to look anyway once a job set runs late.
WEBHOOK_FALLBACK_INTERVAL = 15.0

# The timetable learned from the recent durations themselves (``timetable``):
# never two polls of one job set closer than MIN_GAP, never more than MAX_GAP apart once the
# first has gone out.
MIN_GAP, MAX_GAP = 0.5, LATE_INTERVAL
# Where few finish compared with how many still run, a gap may be this many times the usual one
# (``_spend``). Several modest lengths rather than one long one: forty durations tell the
# finishing rate only roughly, and a long gap placed where it looks low by chance keeps many
# images waiting.
LONGER = (2.0, 1.5, 1.25)
# The share of finished images those longer gaps may leave waiting longer than the usual gap.
# Well under 5%: the estimate of where few finish is rough, and the 95th percentile of the
# wait must stay within the gap.
TAIL = 0.01
# The timetable is not to be expected to cost more than this share of the polls of a plain
# poller looking every PLAIN_EVERY seconds; it widens its gap WIDEN seconds at a time until it
# does not (``timetable``).
PLAIN_EVERY, PLAIN_SHARE, WIDEN = 2.0, 0.97, 0.1
# ... but never wider than this, so that the wait stays within a plain poller's.
WIDEST = 1.9
# Each recent duration is spread over this many average spacings on either side (``_Finishing``).
SMOOTHING = 2.5
# Past the slowest recent one, the gap grows by this share of the time it has run late.
LATE_GROWTH = 0.1


@dataclass(frozen=True)
class Durations:
    """How long Soul took lately for one quality and batch size, from submit to stored image."""

    early: float  # 10th percentile
    typical: float  # the median: what the queue view's estimate is based on
    late: float  # 90th percentile: past 4 times it, a job set gives its slot back
    # The recent durations themselves, sorted: polls follow their whole spread (``timetable``).
    # Empty when only the three figures above are known: the first poll then goes out at
    # ``early`` and one follows every gap until ``late``.
    recent: tuple[float, ...] = ()


def summarize(seconds: Iterable[float]) -> Durations:
    """The durations of recent job sets (at least two) as the schedule and the queue view use them."""
    ordered = tuple(sorted(seconds))
    deciles = statistics.quantiles(ordered, n=10, method="inclusive")
    return Durations(early=deciles[0], typical=statistics.median(ordered), late=deciles[-1], recent=ordered)


def is_probe(job_set_id: int) -> bool:
    return job_set_id % PROBE_EVERY == 0


def poll_delay(
    elapsed: float, usual: Durations | None, *, gap: float, probe: bool = False, called_back: bool = False
) -> float:
    """Seconds until the next poll of a job set sent ``elapsed`` seconds ago.

    Soul gives no progress while it works, so the only guide is how long it took
    lately (``usual``): polls follow the ``timetable`` made from the recent durations,
    dense where job sets usually finish, none before the quickest. A ``probe`` also
    looks at half the first poll's time and just before it. The gap trades lag against requests: a
    finished image waits up to one gap for the poll that finds it (docs/DECISIONS.md,
    docs/BENCHMARKS.md). ``called_back``: the job set has a webhook and callbacks are
    seen to arrive.
    """
    if usual is None:
        # No history: every second for the first ten, then slowly longer gaps.
        return EARLY_INTERVAL if elapsed < 10 else min(LATE_INTERVAL, elapsed / 10)
    if called_back:
        # A callback will move the next poll to now: polls are only the fallback.
        if elapsed < usual.late * 1.2:
            return usual.late * 1.2 - elapsed
        return WEBHOOK_FALLBACK_INTERVAL
    if usual.recent:
        return _from_timetable(elapsed, timetable(usual.recent, gap), gap, probe)
    if elapsed < usual.early:
        probe_at = usual.early / 2
        if probe and elapsed < probe_at:
            return max(0.2, probe_at - elapsed)
        return max(0.2, usual.early - elapsed)
    if elapsed < usual.late + gap:
        return gap
    # Running late: a little less often the longer it runs.
    return min(LATE_INTERVAL, max(gap, elapsed * 0.1))


def _from_timetable(elapsed: float, times: tuple[float, ...], gap: float, probe: bool) -> float:
    first = times[0]
    if probe and elapsed < first:
        # Every other job set's first poll finds all that finished before it, and is learned as
        # having taken that long: only probes, polling every gap just before it, learn the
        # quickest as they are, so that the first poll can move earlier as well as later.
        if elapsed < first / 2:
            return max(MIN_GAP, first / 2 - elapsed)
        lead = first - PROBE_LEAD * gap
        if elapsed < lead:
            return max(MIN_GAP, lead - elapsed)
        return max(MIN_GAP, min(gap, first - elapsed))
    upcoming = bisect.bisect_right(times, elapsed)
    if upcoming < len(times):
        return max(MIN_GAP, times[upcoming] - elapsed)
    # Slower than every recent one: a little less often the longer it runs late.
    return min(MAX_GAP, max(MIN_GAP, gap) + LATE_GROWTH * (elapsed - times[-1]))


class _Finishing:
    """When a job set finishes, as the recent durations tell: each spread over a window around it.

    Forty durations drawn from an even spread leave gaps and clumps that are not there, and the
    timetable would put its long gaps in the gaps; so each duration stands for an even chance
    over SMOOTHING average spacings on either side of it. Where none finished lately (between
    two usual times, say) there is no chance at all. ``earlier``: each duration was seen at a
    poll, some time after the job set finished.
    """

    def __init__(self, recent: Sequence[float], earlier: float) -> None:
        n = len(recent)
        spacing = max((recent[-1] - recent[0]) / max(n - 1, 1), MIN_GAP / 2)
        half = SMOOTHING * spacing
        # Not beyond one spacing past the quickest and the slowest, as n draws from a smooth
        # distribution leave it about that far beyond them.
        lowest, highest = recent[0] - earlier - spacing, recent[-1] - earlier + spacing
        windows = [(max(s - earlier - half, lowest), min(s - earlier + half, highest)) for s in recent]
        # The chance grows evenly between the starts and ends of the windows, each start making
        # it grow faster by 1 / (n width) per second and each end slower by as much.
        steps = sorted(
            [(start, 1 / (n * (end - start))) for start, end in windows]
            + [(end, -1 / (n * (end - start))) for start, end in windows]
        )
        self.times, self.shares = [steps[0][0]], [0.0]
        slope = 0.0
        for at, change in steps:
            if at > self.times[-1]:
                self.shares.append(self.shares[-1] + slope * (at - self.times[-1]))
                self.times.append(at)
            slope += change
        self.shares[-1] = 1.0
        self.start, self.end = self.times[0], self.times[-1]

    def by(self, t: float) -> float:
        """The chance of being finished by ``t`` seconds."""
        if t <= self.start:
            return 0.0
        if t >= self.end:
            return 1.0
        i = bisect.bisect_right(self.times, t)
        t0, t1 = self.times[i - 1], self.times[i]
        f0, f1 = self.shares[i - 1], self.shares[i]
        return f0 + (f1 - f0) * (t - t0) / (t1 - t0)


@functools.lru_cache(maxsize=256)
def timetable(recent: tuple[float, ...], gap: float, tail: float = TAIL) -> tuple[float, ...]:
    """The poll times (seconds after sending) for job sets that took ``recent`` seconds lately.

    A finished image waits for the next poll, so what counts is how long each gap leaves the
    ones finishing in it waiting. The polls come every ``gap`` seconds from when the quickest
    could finish until the slowest should have, none before; where few are finishing compared
    with how many are still running, a longer gap (``_spend``) saves a poll on every job set
    still running for a few images that wait longer than ``gap``.

    Where recent durations are spread so widely that this would cost more polls than looking
    every PLAIN_EVERY seconds, the gap widens, a step at a time up to WIDEST, until it costs
    no more: a finished image then waits a little less than with such a plain poller, for
    fewer requests. (Over an even spread the polls a gap costs go as 1 / gap, and the wait
    of 95% of images as 0.95 gap: no timetable can wait much less than a plain poller there
    without polling more.)
    """
    wait = max(gap, MIN_GAP)
    while True:
        # Each duration learned was seen at a poll, on average half a gap after it finished.
        finishing = _Finishing(recent, earlier=wait / 2)
        times = _spend(finishing, wait, tail)
        allowed = PLAIN_SHARE * _polls(finishing, _every(PLAIN_EVERY, finishing))
        expected = _polls(finishing, times)
        if wait + WIDEN > WIDEST + 1e-9 or expected <= allowed:
            return tuple(round(at, 3) for at in times)
        # Polls go about as 1 / wait: jump to a step short of where that says, then step on.
        steps = max(1, math.ceil((wait * expected / allowed - wait) / WIDEN) - 1)
        wait = min(wait + steps * WIDEN, WIDEST)


def _every(seconds: float, finishing: _Finishing) -> tuple[float, ...]:
    return tuple(seconds * k for k in range(1, math.ceil(finishing.end / seconds) + 1))


def _polls(finishing: _Finishing, times: tuple[float, ...]) -> float:
    """The polls a job set is expected to need: each goes out if it was not done by the one before."""
    return sum(1.0 - finishing.by(before) for before in (0.0, *times[:-1]))


def _spend(finishing: _Finishing, gap: float, tail: float) -> tuple[float, ...]:
    """Poll times every ``gap``, longer where that saves the most polls, ``tail`` waiting longer."""
    longer = sorted({factor * gap for factor in LONGER if factor * gap <= MAX_GAP}, reverse=True)
    # ``price``: how many images may wait longer than ``gap`` per poll saved. More lets more gaps
    # grow; the largest price whose waits stay within ``tail`` is found by bisection (in logs).
    low, high = -10.0, 2.0
    best, _ = _walk(finishing, gap, longer, 0.0)
    for _ in range(9):
        middle = (low + high) / 2
        times, waiting_longer = _walk(finishing, gap, longer, math.exp(middle))
        if waiting_longer <= tail:
            best, low = times, middle
        else:
            high = middle
    return best


def _walk(
    finishing: _Finishing, gap: float, longer: list[float], price: float
) -> tuple[tuple[float, ...], float]:
    """The poll times at ``price`` and the share of images they leave waiting longer than ``gap``."""
    t, times, waiting_longer = finishing.start, [], 0.0
    while t < finishing.end:
        done = finishing.by(t)
        chosen = gap
        # The first gap is never longer: below the first poll the durations learned are only
        # "by then" (see _from_timetable), so the chance there is the least known.
        if times and finishing.by(t + MAX_GAP) == done:
            chosen = MAX_GAP  # none finished in such a stretch lately: nobody waits for these polls
        for g in longer if times and chosen == gap else ():
            # The ones finishing in the first g - gap seconds of this gap wait longer than ``gap``;
            # every job set still running saves g / gap - 1 polls over the same stretch.
            kept = finishing.by(t + g - gap) - done
            if kept <= price * (1.0 - done) * (g / gap - 1.0):
                chosen, waiting_longer = g, waiting_longer + kept
                break
        t += chosen
        times.append(t)
    return tuple(times), waiting_longer
