"""Tracking against the sandbox gateway: lag, upstream requests, idleness, draining a backlog.

The sandbox runs in this process (its counters are read directly), the cluster
in another, both on the benchmark's throw-away database. Job sets are created
the way the generate view creates them (``generations.actions.jobsets.create``), so each
one enqueues its own send task.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import connection
from django.db.models import Count, Q
from django.utils import timezone

from generations.actions import jobsets
from generations.models import Attempt, Job, JobSet, SoulRequest
from soulbench.web import percentile
from soulsandbox.server import SandboxServer

UPSTREAM_COUNTERS = ("submits_accepted", "submits_replayed", "submits_rejected", "polls")


def create(user, team, n: int, rng: random.Random, batch_size: int | None = None) -> int:
    request = SoulRequest(
        prompt=f"bench {n}: a lighthouse at dusk",
        width_and_height="1536x1536",
        quality=rng.choice(("720p", "1080p")),
        batch_size=batch_size or (4 if n % 4 == 0 else 1),
    )
    return jobsets.create(user, team, request).pk


def wait_finished(pks: list[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not JobSet.objects.filter(pk__in=pks).exclude(status__in=JobSet.TERMINAL).exists():
            return True
        time.sleep(0.25)
    return False


def upstream_requests(stats: dict) -> int:
    """Requests to the gateway's two paid-for endpoints (submit and poll); downloads are the CDN's."""
    return sum(stats[name] for name in UPSTREAM_COUNTERS)


@dataclass
class LagRun:
    job_sets: int
    finished: bool
    completed: int
    images: int
    lag_p50_s: float
    lag_p95_s: float
    lag_max_s: float
    upstream_requests: int
    requests_per_job_set: float
    polls_per_job_set: float
    webhooks_sent: int
    wall_s: float
    notes: list[str] = field(default_factory=list)


def image_lags(pks: list[int], stats: dict) -> list[float]:
    """Seconds from the sandbox finishing each image (its stats' ``completed_at``) to it being stored."""
    lags = []
    for upstream_id, downloaded_at in Job.objects.filter(
        job_set_id__in=pks, downloaded_at__isnull=False
    ).values_list("upstream_id", "downloaded_at"):
        done = stats["completed_at"].get(upstream_id)
        if done is not None:
            lags.append(downloaded_at.timestamp() - done)
    return lags


def sandbox_env(url: str, cap: int) -> dict[str, str]:
    """The environment of a web server or cluster talking to the bench's sandbox, without webhooks."""
    return {
        "SOUL_SANDBOX": "1",
        "SOUL_API_KEY": "bench",
        "SOUL_API_BASE_URL": url,
        "SOUL_MAX_IN_FLIGHT": str(cap),
        "SOUL_PUBLIC_URL": "",
    }


def lag_run(sandbox: SandboxServer, user, team, count: int, spread: float, rng: random.Random) -> LagRun:
    """``count`` job sets over ``spread`` seconds; the gateway takes 2-10 s for each.

    Lag is measured per image: from the instant the sandbox made the job terminal
    (its ``completed_at``) to the job's ``downloaded_at`` in our database.
    """
    sandbox.configure(queue_seconds=1.0, complete_seconds="2-10", max_in_flight=None)
    sandbox.state.reset()
    started = time.monotonic()
    pks = []
    for n in range(count):
        pks.append(create(user, team, n, rng))
        time.sleep(max(0.0, started + (n + 1) * spread / count - time.monotonic()))
    finished = wait_finished(pks, timeout=spread + 180)
    wall = time.monotonic() - started
    stats = sandbox.stats()
    lags = image_lags(pks, stats)
    done_sets = JobSet.objects.filter(pk__in=pks, status__in=JobSet.TERMINAL).count() or 1
    requests = upstream_requests(stats)
    return LagRun(
        job_sets=count,
        finished=finished,
        completed=JobSet.objects.filter(pk__in=pks, status=JobSet.Status.COMPLETED).count(),
        images=len(lags),
        lag_p50_s=round(percentile(lags, 0.50), 3),
        lag_p95_s=round(percentile(lags, 0.95), 3),
        lag_max_s=round(max(lags, default=0.0), 3),
        upstream_requests=requests,
        requests_per_job_set=round(requests / done_sets, 2),
        polls_per_job_set=round(stats["polls"] / done_sets, 2),
        webhooks_sent=stats["webhooks_sent"],
        wall_s=round(wall, 1),
    )


def callbacks_seen_lately() -> None:
    """Make the site one whose gateway has been calling back: a callback recorded an hour ago.

    A site with webhooks on receives them all the time; the tracker may trust them (and poll
    less) only once it has seen one lately, which a freshly seeded database has not.
    """
    job_set = JobSet.objects.filter(status=JobSet.Status.COMPLETED).order_by("-id").first()
    if job_set is not None:
        Attempt.objects.create(
            job_set=job_set,
            kind=Attempt.Kind.WEBHOOK,
            at=timezone.now() - timedelta(hours=1),
            asked="callback received",
            answer="seeded by the benchmark",
        )


def idle_requests(sandbox: SandboxServer, seconds: float) -> int:
    """Requests the sandbox receives in ``seconds`` while nothing is pending (should be none)."""
    assert not JobSet.objects.filter(status__in=JobSet.PENDING).exists(), "work is still pending"
    before = sandbox.stats()["requests_total"]
    time.sleep(seconds)
    return sandbox.stats()["requests_total"] - before


@dataclass
class Drain:
    job_sets: int
    finished: bool  # every one drained within the budget
    drained: int  # finished before the budget ran out
    create_s: float
    drain_s: float  # to drain them all, or the budget when it ran out first
    projected_s: float  # all of them at the rate measured (= drain_s when they all drained)
    throughput_per_s: float
    samples_with_backlog: int
    cap_full_share: float  # share of samples, while some wait, with `cap` job sets in flight (database)
    upstream_full_share: float  # the same, counted by the sandbox (unfinished upstream)
    mean_in_flight: float
    max_in_flight_upstream: int
    concurrency_refusals: int
    requests_per_job_set: float
    local_seconds_p50: float  # sent_at to finished_at of drained job sets (the gateway took 0.5-1 s)


def drain(
    sandbox: SandboxServer, user, team, count: int, cap: int, rng: random.Random, budget: float
) -> Drain:
    """``count`` job sets at once with the gateway taking 0.5-1 s each; how well are the slots used?

    The number of job sets in flight is sampled from the database every 100 ms
    while draining (and from the sandbox at the same moments). With a ``budget``
    (seconds, 0 for none) the job sets still waiting when it runs out are
    canceled, as a person would, and the full time is projected from the rate.
    """
    # The sandbox refuses a fifth job set, as Higgsfield does: the cap must hold.
    sandbox.configure(queue_seconds=0.1, complete_seconds="0.5-1", max_in_flight=cap)
    sandbox.state.reset()
    samples: list[tuple[int, int, int]] = []  # (waiting, in flight here, unfinished upstream)
    stop = threading.Event()
    in_flight = Q(status__in=JobSet.IN_FLIGHT)

    def sample() -> None:
        try:
            while not stop.is_set():
                tick = time.monotonic()
                counts = JobSet.objects.filter(status__in=JobSet.PENDING).aggregate(
                    waiting=Count("id", filter=Q(status=JobSet.Status.WAITING)),
                    in_flight=Count("id", filter=in_flight),
                )
                with sandbox.state.lock:
                    upstream = sandbox.state._in_flight(time.time())
                samples.append((counts["waiting"], counts["in_flight"], upstream))
                stop.wait(max(0.0, 0.1 - (time.monotonic() - tick)))
        finally:
            connection.close()

    sampler = threading.Thread(target=sample, name="bench-sampler", daemon=True)
    started = time.monotonic()
    sampler.start()
    pks = [create(user, team, n, rng, batch_size=1) for n in range(count)]
    created = time.monotonic() - started
    finished = wait_finished(pks, timeout=max(1.0, budget - created) if budget else 24 * 3600)
    drained_at = time.monotonic() - started
    stop.set()
    sampler.join()
    drained = JobSet.objects.filter(pk__in=pks, status__in=JobSet.TERMINAL).count()
    durations = sorted(
        (done - sent).total_seconds()
        for sent, done in JobSet.objects.filter(
            pk__in=pks, status=JobSet.Status.COMPLETED, sent_at__isnull=False
        ).values_list("sent_at", "finished_at")
    )
    if not finished:
        for job_set in JobSet.objects.filter(pk__in=pks, status=JobSet.Status.WAITING):
            jobsets.cancel_waiting(job_set)
        wait_finished(pks, timeout=120)
    stats = sandbox.stats()
    backlog = [s for s in samples if s[0] > 0]
    rate = drained / drained_at if drained_at else 0.0
    return Drain(
        job_sets=count,
        finished=finished,
        drained=drained,
        create_s=round(created, 1),
        drain_s=round(drained_at, 1),
        projected_s=round(drained_at if finished else count / rate if rate else 0.0, 1),
        throughput_per_s=round(rate, 2),
        samples_with_backlog=len(backlog),
        cap_full_share=round(sum(1 for s in backlog if s[1] >= cap) / max(1, len(backlog)), 3),
        upstream_full_share=round(sum(1 for s in backlog if s[2] >= cap) / max(1, len(backlog)), 3),
        mean_in_flight=round(sum(s[1] for s in backlog) / max(1, len(backlog)), 2),
        max_in_flight_upstream=stats["max_in_flight_seen"],
        concurrency_refusals=stats["faults"]["concurrency"],
        requests_per_job_set=round(upstream_requests(stats) / max(1, drained), 2),
        local_seconds_p50=round(percentile(durations, 0.5), 2),
    )
