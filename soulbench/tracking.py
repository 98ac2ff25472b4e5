"""The poll schedule beside plain pollers: how long a finished image waits, and what it costs.

Two parts.

``simulate``: virtual time, no processes. Job sets whose durations are drawn from one
distribution are tracked by the real schedule (``policy.poll_delay`` on what
``policy.summarize`` makes of the last 40 durations seen, as ``timing`` does on the
database), and, on the same job sets, by plain pollers looking every 0.5 s and every 2 s.
The delay is from the moment a job set is done upstream to the answer of the poll that
finds it (each poll takes ``latency``); the download is out of scope.

``live_run``: the real tracker (a ``soul_cluster`` subprocess) against the sandbox gateway
over HTTP, the gateway taking 30-50 s, with a history of job sets of that kind that took as
long (a site whose gateway has been that slow for a while). Measured as
``soulbench.upstream.lag_run`` measures 2-10 s: per image, from the sandbox's
``completed_at`` to the job's ``downloaded_at``.
"""

from __future__ import annotations

import heapq
import math
import random
import statistics
import time
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from generations.actions import jobsets
from generations.ledger import rollup
from generations.lifecycle import policy, timing
from generations.models import Job, JobSet, Price, SoulRequest
from soulbench import processes, upstream
from soulbench.rows import NOT_RUN, Row
from soulsandbox.server import SandboxConfig, SandboxServer

# name: (quickest, slowest) seconds, uniformly random in between
DISTRIBUTIONS = {"2-10": (2.0, 10.0), "30-50": (30.0, 50.0), "5-140": (5.0, 140.0)}
PLAIN_EVERY = (0.5, 2.0)
SCHEDULE, PLAIN_2S = "schedule", "every 2 s"
JOB_SETS = 2_000
LATENCY = 0.05  # seconds from sending a poll to reading its answer
SEED = 20261207
# Job sets in flight at once (as SOUL_MAX_IN_FLIGHT): they are sent on average every
# (mean duration / IN_FLIGHT) seconds, so the history moves on as on a busy site.
IN_FLIGHT = 4
# The live run: this many job sets of one kind, spread over LIVE_SPREAD seconds.
LIVE_JOB_SETS, LIVE_SPREAD, LIVE_RANGE = 24, 60.0, "30-50"
LIVE_KIND = ("720p", 1)


# --- In virtual time -------------------------------------------------------------------


@dataclass
class Tracked:
    """How one way of polling did on one distribution."""

    job_sets: int
    delay_p50_s: float
    delay_p95_s: float
    delay_max_s: float
    requests_per_job_set: float  # the submit and every poll


def percentile(values: list[float], share: float) -> float:
    """The ``share`` quantile (0..1) by linear interpolation."""
    return statistics.quantiles(sorted(values), n=100, method="inclusive")[round(share * 100) - 1]


def _tracked(delays: list[float], requests: int) -> Tracked:
    return Tracked(
        job_sets=len(delays),
        delay_p50_s=round(percentile(delays, 0.50), 3),
        delay_p95_s=round(percentile(delays, 0.95), 3),
        delay_max_s=round(max(delays), 3),
        requests_per_job_set=round(requests / len(delays), 2),
    )


def simulate(
    low: float,
    high: float,
    *,
    gap: float,
    count: int = JOB_SETS,
    latency: float = LATENCY,
    seed: int = SEED,
) -> dict[str, Tracked]:
    """The schedule and the plain pollers on the same ``count`` job sets taking ``low``-``high`` s."""
    rng = random.Random(seed)
    spacing = (low + high) / 2 / IN_FLIGHT
    sent, took, at = [], [], 0.0
    for _ in range(count):
        at += rng.expovariate(1 / spacing)
        sent.append(at)
        took.append(rng.uniform(low, high))
    found = {SCHEDULE: _Schedule(sent, took, gap, latency).run()}
    for every in PLAIN_EVERY:
        found[f"every {every:g} s"] = _plain(took, every, latency)
    return found


def _plain(took: list[float], every: float, latency: float) -> Tracked:
    """Polls every ``every`` seconds after sending until one finds the job set done."""
    delays, requests = [], 0
    for seconds in took:
        polls = math.ceil(seconds / every)
        delays.append(polls * every + latency - seconds)
        requests += 1 + polls
    return _tracked(delays, requests)


class _Schedule:
    """The tracker's schedule in virtual time, learning from the job sets it sees finish.

    A job set's first poll is set when it is sent and each next one when a poll's answer
    says it is not done, as ``send`` and ``poll`` do. What is learned is, as in the
    database, the time from sending to the answer that found it done (the first 5 job sets
    are tracked with no history, as on a new site).
    """

    def __init__(self, sent: list[float], took: list[float], gap: float, latency: float) -> None:
        self.sent, self.took, self.gap, self.latency = sent, took, gap, latency
        self.due: list[tuple[float, int]] = []  # (when its next poll goes out, job set)
        self.seen: list[float] = []  # durations learned, in the order they finished
        self.learned: tuple[int, policy.Durations | None] = (-1, None)
        self.delays: list[float] = []
        self.polls = 0

    def run(self) -> Tracked:
        for n, sent_at in enumerate(self.sent):
            while self.due and self.due[0][0] < sent_at:
                self._poll()
            self._plan(n, sent_at)
        while self.due:
            self._poll()
        return _tracked(self.delays, len(self.sent) + self.polls)

    def _usual(self) -> policy.Durations | None:
        # As timing.durations: the last HISTORY_SIZE, none before MIN_HISTORY; read afresh
        # after every finish, as finish.py makes it.
        if self.learned[0] != len(self.seen):
            recent = self.seen[-timing.HISTORY_SIZE :]
            usual = policy.summarize(recent) if len(recent) >= timing.MIN_HISTORY else None
            self.learned = (len(self.seen), usual)
        return self.learned[1]

    def _plan(self, n: int, now: float) -> None:
        # Job set ids start at 1, so one in five is a probe, as on the site.
        wait = policy.poll_delay(
            now - self.sent[n], self._usual(), gap=self.gap, probe=policy.is_probe(n + 1)
        )
        heapq.heappush(self.due, (now + wait, n))

    def _poll(self) -> None:
        at, n = heapq.heappop(self.due)
        self.polls += 1
        answered = at + self.latency
        if at - self.sent[n] >= self.took[n]:
            self.delays.append(answered - (self.sent[n] + self.took[n]))
            self.seen.append(answered - self.sent[n])
        else:
            self._plan(n, answered)


def simulated(gap: float, count: int = JOB_SETS, latency: float = LATENCY, seed: int = SEED) -> dict:
    """Every distribution: ``{name: {way of polling: Tracked as a dict}}``, and the parameters."""
    found: dict = {"job_sets": count, "latency_s": latency, "gap_s": gap}
    for name, (low, high) in DISTRIBUTIONS.items():
        ways = simulate(low, high, gap=gap, count=count, latency=latency, seed=seed)
        found[name] = {way: asdict(result) for way, result in ways.items()}
    return found


# --- With the real tracker ---------------------------------------------------------------


def live_run(user, team, logs: Path, rng: random.Random, count: int = LIVE_JOB_SETS) -> dict:
    """``count`` job sets over LIVE_SPREAD seconds, the sandbox taking 30-50 s, tracked by a cluster.

    Its job sets and the history it seeds are removed afterwards (and the spend rows they
    counted in recomputed), so that the rest of a benchmark learns nothing from them.
    """
    low, high = (float(part) for part in LIVE_RANGE.split("-"))
    quality, batch_size = LIVE_KIND
    history = _seed_history(user, team, low, high, rng)
    sandbox = SandboxServer(SandboxConfig(queue_seconds=1.0, complete_seconds=LIVE_RANGE)).start()
    public_url, settings.SOUL_PUBLIC_URL = settings.SOUL_PUBLIC_URL, ""  # polling only
    # All in flight at once: the queue here is not what is measured.
    env = upstream.sandbox_env(sandbox.url, cap=count)
    pks: list[int] = []
    try:
        cluster = processes.start_cluster(logs / "cluster-tracking.log", **env)
        try:
            started = time.monotonic()
            for n in range(count):
                request = SoulRequest(
                    prompt=f"tracking {n}: a lighthouse at dusk",
                    width_and_height="1536x1536",
                    quality=quality,
                    batch_size=batch_size,
                )
                pks.append(jobsets.create(user, team, request).pk)
                time.sleep(max(0.0, started + (n + 1) * LIVE_SPREAD / count - time.monotonic()))
            finished = upstream.wait_finished(pks, timeout=LIVE_SPREAD + high + 120)
            wall = time.monotonic() - started
        finally:
            cluster.stop()
        stats = sandbox.stats()
    finally:
        sandbox.stop()
        settings.SOUL_PUBLIC_URL = public_url
    found = _lags(pks, stats, finished, wall, low, high)
    _remove(pks, history)
    return found


def _seed_history(user, team, low: float, high: float, rng: random.Random) -> list[int]:
    """The last HISTORY_SIZE completed job sets of the live run's kind, taking ``low``-``high`` s.

    As the tracker would have seen them: at a poll, about half a gap after they finished. All
    finished within the last half second, after any job set an earlier part of the run finished:
    spread over the last 40 s, they were once interleaved with the quick ones of the tracking-lag
    run just before, and the tracker learned a mix of 2-10 s and 30-50 s (21 requests a job set
    where it sends 9 on a history of 30-50 s alone).
    """
    quality, batch_size = LIVE_KIND
    price = Price.current(quality, batch_size)
    now = timezone.now()
    rows = []
    for n in range(timing.HISTORY_SIZE):
        finished = now - timedelta(milliseconds=10 * (timing.HISTORY_SIZE - n))
        took = rng.uniform(low, high) + settings.SOUL_POLL_GAP / 2
        rows.append(
            JobSet(
                user=user,
                team=team,
                prompt=f"tracking history {n}",
                width_and_height="1536x1536",
                quality=quality,
                batch_size=batch_size,
                price=price,
                status=JobSet.Status.COMPLETED,
                charge=JobSet.Charge.CHARGED,
                created_at=finished - timedelta(seconds=took + 1),
                sent_at=finished - timedelta(seconds=took),
                finished_at=finished,
            )
        )
    timing.forget_typical()
    return [job_set.pk for job_set in JobSet.objects.bulk_create(rows)]


def _lags(pks: list[int], stats: dict, finished: bool, wall: float, low: float, high: float) -> dict:
    lags = upstream.image_lags(pks, stats)
    done_sets = JobSet.objects.filter(pk__in=pks, status__in=JobSet.TERMINAL).count() or 1
    return {
        "range_s": f"{low:g}-{high:g}",
        "job_sets": len(pks),
        "finished": finished,
        "completed": JobSet.objects.filter(pk__in=pks, status=JobSet.Status.COMPLETED).count(),
        "images": len(lags),
        "lag_p50_s": round(percentile(lags, 0.50), 3) if len(lags) > 1 else None,
        "lag_p95_s": round(percentile(lags, 0.95), 3) if len(lags) > 1 else None,
        "lag_max_s": round(max(lags, default=0.0), 3),
        # What the tracker sent for these job sets (each submit and poll is counted on its row),
        # and beside it all the sandbox answered, whatever job set it was for.
        "requests_per_job_set": round(_own_requests(pks) / done_sets, 2),
        "sandbox_requests_per_job_set": round(upstream.upstream_requests(stats) / done_sets, 2),
        "polls_per_job_set": round(stats["polls"] / done_sets, 2),
        # What a plain poller every 2 s would have sent for these job sets: the submit and
        # one poll per 2 s until done (it takes the time the sandbox drew, plus the queue).
        "plain_2s_requests_per_job_set": _plain_requests(pks, stats),
        "wall_s": round(wall, 1),
    }


def _own_requests(pks: list[int]) -> int:
    sent = JobSet.objects.filter(pk__in=pks).aggregate(submits=Sum("send_attempts"), polls=Sum("polls"))
    return (sent["submits"] or 0) + (sent["polls"] or 0)


def _plain_requests(pks: list[int], stats: dict) -> float | None:
    took = []
    for job_set_id, upstream_id, sent_at in Job.objects.filter(job_set_id__in=pks).values_list(
        "job_set_id", "upstream_id", "job_set__sent_at"
    ):
        done = stats["completed_at"].get(upstream_id)
        if done is not None and sent_at is not None:
            took.append((job_set_id, done - sent_at.timestamp()))
    slowest: dict[int, float] = {}
    for job_set_id, seconds in took:
        slowest[job_set_id] = max(seconds, slowest.get(job_set_id, 0.0))
    if not slowest:
        return None
    return round(sum(1 + math.ceil(max(s, 0.0) / 2.0) for s in slowest.values()) / len(slowest), 2)


def _remove(pks: list[int], history: list[int]) -> None:
    counted = list(JobSet.objects.filter(pk__in=pks))
    JobSet.objects.filter(pk__in=[*pks, *history]).delete()
    for job_set in counted:
        rollup.refresh(job_set)  # the day's spend without them
    timing.forget_typical()


# --- For the benchmark -------------------------------------------------------------------


def measure(rng: random.Random, say, user=None, team=None, logs: Path | None = None) -> dict:
    """The simulation at the configured SOUL_POLL_GAP and, given a person, the live run."""
    say(f"poll schedule in virtual time: {JOB_SETS:,} job sets on each of {', '.join(DISTRIBUTIONS)} s")
    found: dict = {"simulated": simulated(settings.SOUL_POLL_GAP)}
    if user is not None:
        say(f"poll schedule with the real tracker: {LIVE_JOB_SETS} job sets taking {LIVE_RANGE} s")
        logs = logs or settings.VAR_DIR / "bench-logs"
        logs.mkdir(parents=True, exist_ok=True)
        found["live"] = live_run(user, team, logs, rng)
    return found


def rows() -> list[Row]:
    def simulated_row(name: str):
        def value(results: dict) -> tuple[str, bool | None]:
            run = (results.get("tracking") or {}).get("simulated", {}).get(name)
            if run is None:
                return NOT_RUN, None
            ours, fast, plain = run[SCHEDULE], run["every 0.5 s"], run[PLAIN_2S]
            text = (
                f"{ours['delay_p50_s']:.2f} / {ours['delay_p95_s']:.2f} s, "
                f"{ours['requests_per_job_set']:.1f} requests (every 2 s: {plain['delay_p95_s']:.2f} s, "
                f"{plain['requests_per_job_set']:.1f}; every 0.5 s: {fast['delay_p95_s']:.2f} s, "
                f"{fast['requests_per_job_set']:.1f})"
            )
            met = (
                ours["delay_p95_s"] <= plain["delay_p95_s"]
                and ours["requests_per_job_set"] < plain["requests_per_job_set"]
            )
            return text, met

        return value

    def live(results: dict) -> tuple[str, bool | None]:
        run = (results.get("tracking") or {}).get("live")
        if run is None:
            return NOT_RUN, None
        if not run["finished"] or run["lag_p95_s"] is None:
            return f"did not finish ({run['completed']}/{run['job_sets']})", False
        text = (
            f"{run['lag_p50_s']:.2f} / {run['lag_p95_s']:.2f} s ({run['images']} images), "
            f"{run['requests_per_job_set']:.1f} requests (every 2 s: {run['plain_2s_requests_per_job_set']})"
        )
        answered = run.get("sandbox_requests_per_job_set")
        if answered is not None and answered > run["requests_per_job_set"] * 1.05:
            text += f"; the sandbox answered {answered:.1f} a job set"
        return text, run["lag_p95_s"] < 3.0 and run["requests_per_job_set"] < (
            run["plain_2s_requests_per_job_set"] or 0
        )

    target = "p95 ≤ every 2 s, fewer requests"
    found = [
        Row(f"Poll schedule, simulated, {name} s (p50 / p95 wait)", target, simulated_row(name))
        for name in DISTRIBUTIONS
    ]
    found.append(
        Row(f"Poll schedule, real tracker, {LIVE_RANGE} s (p50 / p95 lag)", "p95 < 3 s, fewer requests", live)
    )
    return found


def method(gap: float) -> str:
    """How the poll schedule rows are measured, for the benchmark page."""
    return (
        f"- **Poll schedule, simulated**: {JOB_SETS:,} job sets per distribution (uniformly random "
        f"durations of {', '.join(DISTRIBUTIONS)} s; seed {SEED}), sent on average every mean duration / "
        f"{IN_FLIGHT} seconds, in virtual time. The schedule is the tracker's own "
        "(`generations.lifecycle.policy.poll_delay`, its gap the configured "
        f"`SOUL_POLL_GAP` = {gap:g} s), learning as `timing` does from the last 40 durations it saw "
        "(sending to the answer that found the job set done; none for the first 5). Beside it, on the "
        "same job sets, plain pollers every 0.5 s and every 2 s. The wait is from the moment a job set "
        f"is done upstream to the answer of the poll that finds it, each poll taking {LATENCY:g} s; the "
        "download is left out. Requests are the submit plus every poll, per job set.\n"
        f"- **Poll schedule, real tracker**: {LIVE_JOB_SETS} job sets (720p, one image) over "
        f"{LIVE_SPREAD:g} s to the sandbox gateway taking a random {LIVE_RANGE} s, tracked by a real "
        "`manage.py soul_cluster` with the in-flight cap at the number of job sets. The database first "
        "holds 40 completed job sets of that kind that took 30-50 s, as on a site whose gateway has "
        "been that slow for a while; they and the run's job sets are removed afterwards. Lag as in "
        "*tracking lag* (download included). Requests are the submits and polls the tracker counted on "
        "the run's own job sets; the sandbox's own count (every request it received) is shown beside "
        "them when it is higher. *Every 2 s* is what a plain "
        "poller would have sent for the same job sets: the submit and one poll every 2 s until the "
        "sandbox had finished."
    )
