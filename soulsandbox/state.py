"""What the sandbox remembers while it runs: job sets, counters, fault draws and webhook timers.

One :class:`SandboxState` is shared by the server's threads; every access to shared data
is under its ``lock``. ``GET /_sandbox/stats`` shows :meth:`SandboxState.stats`, and
``POST /_sandbox/reset`` forgets everything but the configuration.

Each result is drawn while its job set "generates" (one drawing thread, in the order of
submits), so that, as with Soul, the file is ready when the job reports completed and a
download is only a transfer.
"""

from __future__ import annotations

import collections
import dataclasses
import heapq
import queue
import random
import sys
import threading
import time
import traceback

from soulsandbox import faults, render, webhooks
from soulsandbox.config import RUNTIME_FIELDS, SandboxConfig
from soulsandbox.faults import FAULT_KINDS, ConcurrencyLimitReached, FaultRoll
from soulsandbox.jobsets import JobSet, new_job_set
from soulwire import contract, params
from soulwire.contract import POLL_PATH, SUBMIT_PATH

COUNTERS = (
    "submits_accepted",
    "submits_replayed",
    "submits_rejected",
    "polls",
    "styles_requests",
    "requests_total",
    "webhooks_sent",
    "webhooks_failed",
)


class SandboxState:
    """The job store, counters and webhook timers, shared by the server's threads.

    Every access to shared data is under ``lock``. ``stopping`` is set once the server
    stops: slow answers stop waiting and pending webhooks are cancelled.
    """

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.webhook_timers: dict[str, threading.Timer] = {}
        # Draws results ahead of their download (see the module's docstring).
        self.painter = Painter()
        self.generation = 0  # bumped by reset(), so a webhook already on its way is not counted
        self.reset()

    def reset(self) -> None:
        """Forget every job set and counter and cancel pending webhooks; keep the configuration."""
        with self.lock:
            self.job_sets: dict[str, JobSet] = {}
            self.jobs: dict[str, tuple[JobSet, int]] = {}
            self.idempotency: dict[str, str] = {}
            self.counters = dict.fromkeys(COUNTERS, 0)
            self.faults = dict.fromkeys(FAULT_KINDS, 0)
            self.accepted_by_key: dict[str, int] = {}
            # Every submit that carried a key and was processed: accepted or answered as a repeat.
            self.submits_by_key: dict[str, int] = {}
            self.unfinished: list[float] = []  # a heap of the terminal instants not yet passed
            self.max_in_flight_seen = 0
            # Polls of one job set being answered at the same moment (two workers on one job set).
            self.polls_active: dict[str, int] = {}
            self.max_concurrent_polls_per_job_set = 0
            # Answers a test has queued for the next submits or polls, first in first out.
            self.scripted: dict[str, collections.deque] = {
                SUBMIT_PATH: collections.deque(),
                POLL_PATH: collections.deque(),
            }
            # A reset with a fault seed starts the same sequence of outcomes again.
            self.rng = random.Random(self.config.fault_seed)
            self.generation += 1
            timers, self.webhook_timers = list(self.webhook_timers.values()), {}
        for timer in timers:
            timer.cancel()

    def shutdown(self) -> None:
        """Stop waiting: end slow answers and webhook backoffs, cancel pending webhooks."""
        self.stopping.set()
        self.painter.shutdown()
        with self.lock:
            timers, self.webhook_timers = list(self.webhook_timers.values()), {}
        for timer in timers:
            timer.cancel()

    # Faults and scripted answers

    def script(self, body: object) -> int:
        """Queue answers: ``{"endpoint": "submit"|"poll", "answers": [{"status", "body", "headers"}]}``.

        Returns how many answers wait for that endpoint; raises ValueError on a bad body.
        """
        path, answers = faults.parse_script(body)
        with self.lock:
            self.scripted[path].extend(answers)
            return len(self.scripted[path])

    def next_scripted(self, path: str) -> dict | None:
        with self.lock:
            queue = self.scripted.get(path)
            return queue.popleft() if queue else None

    def roll(self) -> FaultRoll:
        """Draw the faults of one submit or poll request (always three draws, for reproducibility)."""
        with self.lock:
            draws = self.rng.random(), self.rng.random(), self.rng.random()
        return faults.choose(self.config, *draws)

    def update_settings(self, changes: object) -> dict:
        """Change fault, webhook and timing settings at run time; return them all.

        Raises ValueError, changing nothing, on an unknown name or a bad value.
        Timing changes apply to job sets submitted afterwards.
        """
        if not isinstance(changes, dict):
            raise ValueError("expected a JSON object of settings")
        unknown = sorted(set(changes) - set(RUNTIME_FIELDS))
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(unknown)}; known: {', '.join(RUNTIME_FIELDS)}")
        with self.lock:
            candidate = dataclasses.replace(self.config, **changes)  # validates every field
            for name in RUNTIME_FIELDS:
                setattr(self.config, name, getattr(candidate, name))
            if "fault_seed" in changes:
                self.rng = random.Random(self.config.fault_seed)
            return self.config.settings()

    # Counting

    def count(self, name: str) -> None:
        with self.lock:
            self.counters[name] += 1

    def count_fault(self, kind: str) -> None:
        with self.lock:
            self.faults[kind] += 1

    def poll_begins(self, job_set_id: str) -> None:
        with self.lock:
            active = self.polls_active.get(job_set_id, 0) + 1
            self.polls_active[job_set_id] = active
            self.max_concurrent_polls_per_job_set = max(self.max_concurrent_polls_per_job_set, active)

    def poll_ends(self, job_set_id: str) -> None:
        with self.lock:
            active = self.polls_active.pop(job_set_id, 0) - 1
            if active > 0:
                self.polls_active[job_set_id] = active

    # Job sets

    def _in_flight(self, now: float) -> int:
        """Job sets whose terminal instant has not passed (caller holds the lock)."""
        while self.unfinished and self.unfinished[0] <= now:
            heapq.heappop(self.unfinished)
        return len(self.unfinished)

    def submit(
        self,
        body: dict,
        idempotency_key: str | None = None,
        *,
        base_url: str | None = None,
        never_finish: bool = False,
    ) -> dict:
        """Store a new job set for a validated ``body``; return the submit response.

        A submit whose idempotency key was seen before stores nothing and gets the
        first response again, as upstream does for a retried request (even when the
        concurrency cap is reached: the retried request is the one already counted).
        The check and the store share one lock, so two concurrent retries cannot both
        be accepted. Raises ConcurrencyLimitReached when ``max_in_flight`` job sets are
        unfinished. ``never_finish`` (or the word ``forever``) keeps the set in progress.
        """
        seed = body.get("seed")
        if seed is None:
            seed = random.randint(params.SEED_MIN, params.SEED_MAX)
        job_set = new_job_set(
            body,
            seed,
            now=time.time(),
            queue_seconds=self.config.queue_seconds,
            complete_range=self.config.complete_range,
            never_finish=never_finish,
            base_url=base_url or self.config.public_url or "",
        )
        with self.lock:
            if idempotency_key:
                self.submits_by_key[idempotency_key] = self.submits_by_key.get(idempotency_key, 0) + 1
            if idempotency_key and idempotency_key in self.idempotency:
                self.counters["submits_replayed"] += 1
                return self.job_sets[self.idempotency[idempotency_key]].submit_response
            now = time.time()
            limit = self.config.max_in_flight
            if limit is not None and self._in_flight(now) >= limit:
                self.faults["concurrency"] += 1
                raise ConcurrencyLimitReached(limit)
            self.job_sets[job_set.id] = job_set
            for index, job_id in enumerate(job_set.job_ids):
                self.jobs[job_id] = (job_set, index)
            heapq.heappush(self.unfinished, job_set.terminal_at)
            self.max_in_flight_seen = max(self.max_in_flight_seen, self._in_flight(now))
            self.counters["submits_accepted"] += 1
            if idempotency_key:
                self.idempotency[idempotency_key] = job_set.id
                self.accepted_by_key[idempotency_key] = self.accepted_by_key.get(idempotency_key, 0) + 1
            if job_set.webhook_url and job_set.finishes and not self.stopping.is_set():
                self._schedule_webhooks(job_set)
        self.paint_ahead(job_set)
        return job_set.submit_response

    def paint_ahead(self, job_set: JobSet) -> None:
        """Draw the images this job set will show, while it "generates"."""
        if not job_set.finishes:
            return
        for index, outcome in enumerate(job_set.outcomes):
            if outcome == contract.COMPLETED:
                for kind in ("raw", "min"):
                    self.painter.submit(job_set.input_params, index, kind)

    def poll(self, job_set_id: str, base_url: str) -> dict | None:
        """The job set as the poll endpoint shows it now, or None when unknown.

        The first ``poll_not_found_first`` polls of each job set also give None.
        """
        now = time.time()
        with self.lock:
            job_set = self.job_sets.get(job_set_id)
            if job_set is None:
                return None
            job_set.polls_seen += 1
            if job_set.polls_seen <= self.config.poll_not_found_first:
                self.faults["poll_404"] += 1
                return None
        return job_set.view(now, base_url)

    def completed_job(self, job_id: str) -> tuple[JobSet, int] | None:
        """(job set, job index) of a job whose image can be downloaded now, else None."""
        with self.lock:
            found = self.jobs.get(job_id)
        if found is None or found[0].status(found[1], time.time()) != contract.COMPLETED:
            return None
        return found

    def stats(self) -> dict:
        now = time.time()
        with self.lock:
            completed_at = {
                job_id: job_set.terminal_at
                for job_id, (job_set, _) in self.jobs.items()
                if job_set.terminal_at <= now
            }
            return {
                **self.counters,
                "by_idempotency_key": dict(self.accepted_by_key),
                "submits_by_key": dict(self.submits_by_key),
                # What Soul would have charged for: a job set that finished with an image.
                "charged_keys": sorted(
                    key
                    for key, job_set_id in self.idempotency.items()
                    if self.job_sets[job_set_id].terminal_at <= now
                    and contract.COMPLETED in self.job_sets[job_set_id].outcomes
                ),
                "job_sets": len(self.job_sets),
                "completed_at": completed_at,
                "faults": dict(self.faults),
                "in_flight": self._in_flight(now),
                "max_in_flight_seen": self.max_in_flight_seen,
                "max_concurrent_polls_per_job_set": self.max_concurrent_polls_per_job_set,
                "webhooks_pending": len(self.webhook_timers),
            }

    # Webhooks (what is sent, and how, is soulsandbox.webhooks')

    def _schedule_webhooks(self, job_set: JobSet) -> None:
        """Deliver at the terminal instant plus ``webhook_delay`` (caller holds the lock)."""
        delay = max(0.0, job_set.terminal_at + self.config.webhook_delay - time.time())
        timer = threading.Timer(delay, self._send_webhooks, args=(job_set, self.generation))
        timer.daemon = True
        timer.name = f"soul-sandbox-webhook-{job_set.id[:8]}"
        self.webhook_timers[job_set.id] = timer
        timer.start()

    def _send_webhooks(self, job_set: JobSet, generation: int) -> None:
        """The timer's work: the final message (and duplicates), then maybe a stale one."""
        try:
            with self.lock:
                if generation != self.generation or self.stopping.is_set():
                    return
                config = self.config
                url = config.webhook_target or job_set.webhook_url
                duplicates, reorder, quiet = config.webhook_duplicates, config.webhook_reorder, config.quiet
            for message_id, body in webhooks.messages_for(job_set, duplicates, reorder):
                delivered, problem = webhooks.deliver(
                    url, job_set.webhook_secret or "", message_id, body, self.stopping
                )
                if self.stopping.is_set():
                    return
                with self.lock:
                    if generation == self.generation:
                        self.counters["webhooks_sent" if delivered else "webhooks_failed"] += 1
                if not delivered and not quiet:
                    host = webhooks.host_of(url)
                    sys.stderr.write(f"webhook {message_id} to {host} failed: {problem}\n")
        except Exception:
            traceback.print_exc(file=sys.stderr)
        finally:
            with self.lock:
                if generation == self.generation:
                    self.webhook_timers.pop(job_set.id, None)


class Painter:
    """One daemon thread drawing results in the order asked; drawings still waiting at shutdown are dropped.

    Not a ThreadPoolExecutor: Python joins an executor's threads when it exits, so a drawing in
    progress held the process after SIGTERM. A daemon thread is abandoned at exit instead (a
    download would draw the image anyway).
    """

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soul-sandbox-paint", daemon=True)
        self._thread.start()

    def submit(self, applied: dict, index: int, kind: str) -> None:
        if not self._stopped.is_set():
            self._queue.put((applied, index, kind))

    def shutdown(self) -> None:
        self._stopped.set()
        self._queue.put(None)  # wakes the thread if it waits

    def _run(self) -> None:
        while not self._stopped.is_set():
            work = self._queue.get()
            if work is None or self._stopped.is_set():
                return
            try:
                render.result_png(*work)
            except Exception:
                traceback.print_exc(file=sys.stderr)
