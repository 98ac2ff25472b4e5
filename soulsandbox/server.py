"""A local stand-in for the Pixazo gateway's Higgsfield Soul API (see /work/shared/SOUL_API.md).

A small WSGI app with a threaded server around it. It imports only the standard
library, Pillow (through :mod:`render`) and :mod:`params`: it is a separate program
that happens to live in the repo, and must run without Django.

Behaviour worth knowing when testing against it:

- Jobs are ``queued`` for ``queue_seconds``, then ``in_progress``, then terminal at
  ``complete_seconds`` after the submit (a float, or ``"2-10"`` for a uniformly random
  duration per job set). Statuses are computed from the wall clock on each poll.
- The prompt picks the outcome: the word ``nsfw`` makes every job ``nsfw``, ``fail``
  makes every job ``failed``, ``partial`` in a batch of 4 fails jobs 2 and 4, and
  ``forever`` keeps every job ``in_progress`` for ever.
- Result images (``/results/<job id>/raw.png`` and ``min.png``) and style previews
  are served without a key, like a CDN. Each result is drawn while its job set
  "generates" (one drawing thread, in the order of submits), so that, as with Soul, the
  file is ready when the job reports completed and a download is only a transfer.
- ``GET /_sandbox/stats``, ``POST /_sandbox/reset`` and ``GET``/``POST /_sandbox/faults``
  exist for tests and benchmarks (no key needed).

Faults (all off by default; see :class:`SandboxConfig`) apply to submit and poll
requests only, checked in this order: the key (401), then one random draw picks
500 / 429 / 503 (cumulative rates, nothing processed), then validation (400), then
the concurrency cap (400, Higgsfield's wording), then the request is processed, and
a second draw may delay the answer (``slow``) or close the connection without one
(``drop``). Every injected fault is counted in ``stats()["faults"]``.

When a submit carries ``webhook_url`` and ``webhook_secret``, the job set in the poll
shape is POSTed there once every job is terminal, signed the Standard Webhooks way
(``webhook-id``, ``webhook-timestamp``, ``webhook-signature: v1,<base64 HMAC-SHA256>``).
"""

from __future__ import annotations

import base64
import collections
import dataclasses
import hashlib
import heapq
import hmac
import http.client
import ipaddress
import json
import math
import random
import re
import socketserver
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from urllib.parse import urlsplit
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer, make_server

from soulsandbox import render
from soulwire import params

JOB_SET_TYPE = "text2image_soul"
SUBMIT_PATH = "/ai-model-api/v1/generateSoul"
POLL_PATH = "/ai-model-api-polling/getGenerationResults"
STYLES_PATH = "/ai-model-api-polling/getTextToImageGetSoulStyles"
STATS_PATH = "/_sandbox/stats"
RESET_PATH = "/_sandbox/reset"
FAULTS_PATH = "/_sandbox/faults"
SCRIPT_PATH = "/_sandbox/script"
MAX_BODY_BYTES = 1 << 20
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
FAULT_KINDS = ("500", "429", "503", "slow", "drop", "concurrency", "poll_404", "scripted")

# The settings GET/POST /_sandbox/faults shows and changes at run time.
FAULT_FIELDS = (
    "error_rate",
    "rate_limit_rate",
    "retry_after",
    "unavailable_rate",
    "max_in_flight",
    "slow_rate",
    "slow_seconds",
    "drop_rate",
    "never_finish_rate",
    "poll_not_found_first",
    "fault_seed",
)
WEBHOOK_FIELDS = ("webhook_duplicates", "webhook_reorder", "webhook_delay", "webhook_target")
TIMING_FIELDS = ("queue_seconds", "complete_seconds")
RUNTIME_FIELDS = FAULT_FIELDS + WEBHOOK_FIELDS + TIMING_FIELDS

ERROR_500 = "An unexpected error occurred, please try again later"
ERROR_429 = "Rate limit exceeded, please retry later"
ERROR_503 = "Model is temporarily unavailable"
CONCURRENCY_DETAIL = "Maximum number of concurrent requests ({}) has been reached"

# Webhook delivery: attempts per message, the first backoff (doubling), the socket timeout.
WEBHOOK_ATTEMPTS = 3
WEBHOOK_BACKOFF = 0.2
WEBHOOK_TIMEOUT = 5.0

# The public styles SOUL_API.md lists: (id, name, description).
STYLES: tuple[tuple[str, str, str], ...] = (
    (params.GENERAL_STYLE_ID, "General", "Balanced everyday look; the default when no style is chosen."),
    ("1cb4b936-77bf-4f9a-9039-f3d349a4cdbe", "Realistic", "True-to-life photography with natural light."),
    ("a5f63c3b-70eb-4979-af5e-98c7ee1e18e8", "Giant People", "People towering over a miniature world."),
    ("b3c8075a-cb4c-42de-b8b3-7099dd2df672", "Creatures", "Fantastic beasts and creature companions."),
    ("1fc861ed-5923-41a6-9963-b9f04681dddd", "Medieval", "Castles, armour and candlelit halls."),
    ("40ff999c-f576-443c-b5b3-c7d1391a666e", "Spotlight", "A single hard spotlight on a dark stage."),
    ("ca4e6ad3-3e93-4e03-81a0-d1722d2c128b", "DigitalCam", "Early-2000s digital camera snapshot with flash."),
    ("6fb3e1f5-d721-4523-ac38-9902f2b2b850", "Library", "Warm reading rooms lined with old books."),
    ("d2e8ba04-9935-4dee-8bc4-39ac789746fc", "Subway", "Underground platforms under fluorescent light."),
    ("1b798b54-03da-446a-93bf-12fcba1050d7", "iPhone", "Casual phone photo, candid framing."),
    ("ff1ad8a2-94e7-4e70-a12f-e992ca9a0d36", "Quiet luxury", "Understated, expensive-looking calm."),
    ("7696fd45-6e67-47d7-b800-096ce21cd449", "Sitting on the Street", "Street-level portrait on the kerb."),
)
_STYLE_NAMES = {style_id: name for style_id, name, _ in STYLES}

_NSFW_RE = re.compile(r"\bnsfw\b", re.IGNORECASE)
_FAIL_RE = re.compile(r"\bfail\b", re.IGNORECASE)
_PARTIAL_RE = re.compile(r"\bpartial\b", re.IGNORECASE)
_FOREVER_RE = re.compile(r"\bforever\b", re.IGNORECASE)
_RESULT_RE = re.compile(r"^/results/([0-9a-f-]{36})/(raw|min)\.png$")
_SWATCH_RE = re.compile(r"^/_sandbox/styles/([0-9a-f-]{36})\.png$")

Response = tuple[int, list[tuple[str, str]], bytes]


# Validators for the configuration: each returns the value normalised or raises ValueError.


def _number(name: str, value: object) -> float:
    # JSON booleans decode to bool, which Python counts as int: refuse them.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(value)


def _rate(name: str, value: object) -> float:
    number = _number(name, value)
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"{name} must be a fraction from 0 to 1, got {value!r}")
    return number


def _seconds(name: str, value: object) -> float:
    number = _number(name, value)
    if number < 0:
        raise ValueError(f"{name} must not be negative, got {value!r}")
    return number


def _count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value!r}")
    return value


def _optional_count(name: str, value: object) -> int | None:
    return None if value is None else _count(name, value)


def _seed(name: str, value: object) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError(f"{name} must be a whole number or null, got {value!r}")
    return value


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return value


def _target(name: str, value: object) -> str | None:
    if value is None or value == "":
        return None
    if not params.is_uri(value):
        raise ValueError(f"{name} must be an http(s) URL, got {value!r}")
    return value


def _duration(name: str, value: object) -> str | float:
    parse_seconds_range(value)  # type: ignore[arg-type]
    return value  # type: ignore[return-value]


_CHECKS: dict[str, Callable[[str, object], object]] = {
    "queue_seconds": _seconds,
    "complete_seconds": _duration,
    "error_rate": _rate,
    "rate_limit_rate": _rate,
    "retry_after": _seconds,
    "unavailable_rate": _rate,
    "max_in_flight": _optional_count,
    "slow_rate": _rate,
    "slow_seconds": _seconds,
    "drop_rate": _rate,
    "never_finish_rate": _rate,
    "poll_not_found_first": _count,
    "fault_seed": _seed,
    "webhook_duplicates": _count,
    "webhook_reorder": _flag,
    "webhook_delay": _seconds,
    "webhook_target": _target,
}


@dataclass
class SandboxConfig:
    # None: any non-empty key is accepted. Kept out of repr so it never reaches a log line.
    api_key: str | None = field(default=None, repr=False)
    queue_seconds: float = 1.0
    complete_seconds: str | float = 3.0  # seconds after submit, or "low-high" for a random duration
    public_url: str | None = None  # base of result and preview URLs; default: the request's Host
    quiet: bool = True

    # Faults on submit and poll requests (rates are fractions from 0 to 1). The three
    # answered-without-processing rates share one draw, in this order: 500, 429, 503.
    error_rate: float = 0.0  # 500, nothing processed
    rate_limit_rate: float = 0.0  # 429 with Retry-After, nothing processed
    retry_after: float = 1.0  # seconds, the 429's Retry-After header
    unavailable_rate: float = 0.0  # 503, nothing processed
    max_in_flight: int | None = None  # submits beyond this many unfinished job sets: 400 (Higgsfield's)
    # Processed normally, then the answer is late (slow) or never comes (drop); one draw, drop first.
    slow_rate: float = 0.0
    slow_seconds: float = 5.0
    drop_rate: float = 0.0
    never_finish_rate: float = 0.0  # job sets that stay in_progress for ever (also: the word "forever")
    poll_not_found_first: int = 0  # the first N polls of each job set answer 404
    fault_seed: int | None = None  # seeds the fault draws, for a reproducible soak

    # Webhook delivery (a submit with webhook_url and webhook_secret).
    webhook_duplicates: int = 0  # send each message this many extra times
    webhook_reorder: bool = False  # after the final message, also send a stale in_progress one
    webhook_delay: float = 0.0  # seconds after the terminal instant
    webhook_target: str | None = None  # deliver here instead of the submitted webhook_url

    def __post_init__(self) -> None:
        # Fail at start-up (or on a bad POST /_sandbox/faults) rather than on the first submit.
        for name, check in _CHECKS.items():
            setattr(self, name, check(name, getattr(self, name)))

    @property
    def complete_range(self) -> tuple[float, float]:
        return parse_seconds_range(self.complete_seconds)

    def settings(self) -> dict:
        """The settings that ``/_sandbox/faults`` shows and changes."""
        return {name: getattr(self, name) for name in RUNTIME_FIELDS}

    def changed_settings(self) -> dict:
        """The fault and webhook settings that differ from their defaults (for a start-up line)."""
        defaults = {item.name: item.default for item in dataclasses.fields(self)}
        return {
            name: getattr(self, name)
            for name in FAULT_FIELDS + WEBHOOK_FIELDS
            if getattr(self, name) != defaults[name]
        }


def parse_seconds_range(value: str | float) -> tuple[float, float]:
    """``3`` or ``"3"`` -> (3.0, 3.0); ``"2-10"`` -> (2.0, 10.0). Raises ValueError otherwise."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        low = high = float(value)
    elif isinstance(value, str) and value.count("-") <= 1:
        bounds = [float(part) for part in value.split("-")]
        low, high = bounds[0], bounds[-1]
    else:
        raise ValueError(f"not a duration in seconds: {value!r}")
    if not 0 <= low <= high or high == float("inf"):
        raise ValueError(f"need 0 <= low <= high seconds, got {value!r}")
    return low, high


def outcomes_for(prompt: str, batch_size: int) -> list[str]:
    """The terminal status of each job, chosen by words in the prompt."""
    if _NSFW_RE.search(prompt):
        return ["nsfw"] * batch_size
    if _FAIL_RE.search(prompt):
        return ["failed"] * batch_size
    if _PARTIAL_RE.search(prompt) and batch_size == 4:
        return ["completed", "failed", "completed", "failed"]
    return ["completed"] * batch_size


def never_finishes(prompt: str) -> bool:
    """True when the prompt holds the word ``forever``: its job set stays in progress."""
    return bool(_FOREVER_RE.search(prompt))


def _iso_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _input_params(body: dict, seed: int) -> dict:
    """What the upstream echoes as applied: defaults filled in, references expanded."""
    width, height = params.parse_size(body["width_and_height"])
    reference_id = body.get("custom_reference_id")
    image_url = body.get("image_reference_image_url")

    def given(name: str, default: object) -> object:
        value = body.get(name)
        return default if value is None else value

    return {
        "prompt": body["prompt"],
        "width": width,
        "height": height,
        "enhance_prompt": given("enhance_prompt", False),
        "style_id": given(params.STYLE_FIELD, params.GENERAL_STYLE_ID),
        "style_strength": given("style_strength", 1),
        "seed": seed,
        "custom_reference": None if reference_id is None else {"id": reference_id},
        "custom_reference_strength": given("custom_reference_strength", 1),
        "image_reference": (
            None if image_url is None else {"id": str(uuid.uuid4()), "type": "media_input", "url": image_url}
        ),
        # The upstream's default quality is unknown; the sandbox applies the contract's default.
        "quality": given("quality", params.DEFAULT_QUALITY),
        "batch_size": _batch_size(body),
    }


def _batch_size(body: dict) -> int:
    return body.get("batch_size") or params.DEFAULT_BATCH_SIZE


@dataclass
class JobSet:
    id: str
    created_at: str
    submitted_at: float
    in_progress_at: float
    terminal_at: float  # math.inf for a job set that never finishes
    input_params: dict
    job_ids: list[str]
    outcomes: list[str]
    submit_response: dict = field(default_factory=dict)
    base_url: str = ""  # where the webhook body's result URLs point
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)
    polls_seen: int = 0

    def status(self, index: int, now: float) -> str:
        if now >= self.terminal_at:
            return self.outcomes[index]
        return "in_progress" if now >= self.in_progress_at else "queued"

    def view(self, now: float, base_url: str) -> dict:
        """The job set as the poll endpoint (and a webhook) shows it at ``now``."""
        jobs = []
        for index, job_id in enumerate(self.job_ids):
            status = self.status(index, now)
            jobs.append(_job(job_id, status, _results(base_url, job_id) if status == "completed" else None))
        return {
            "id": self.id,
            "type": JOB_SET_TYPE,
            "created_at": self.created_at,
            "jobs": jobs,
            "input_params": self.input_params,
        }


@dataclass(frozen=True)
class FaultRoll:
    """What the fault draws chose for one submit or poll request."""

    before: str | None = None  # "500", "429" or "503": answered without processing
    after: str | None = None  # "slow" or "drop": processed, then answered late or not at all
    never_finish: bool = False  # a submit's job set stays in progress


class ConcurrencyLimitReached(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(CONCURRENCY_DETAIL.format(limit))
        self.limit = limit


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
        self.painter = ThreadPoolExecutor(1, thread_name_prefix="soul-sandbox-paint")
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
        self.painter.shutdown(wait=False, cancel_futures=True)
        with self.lock:
            timers, self.webhook_timers = list(self.webhook_timers.values()), {}
        for timer in timers:
            timer.cancel()

    def script(self, body: object) -> int:
        """Queue answers: ``{"endpoint": "submit"|"poll", "answers": [{"status", "body", "headers"}]}``."""
        if not isinstance(body, dict) or body.get("endpoint") not in ("submit", "poll"):
            raise ValueError('"endpoint" must be "submit" or "poll"')
        answers = body.get("answers")
        if not isinstance(answers, list) or not all(
            isinstance(a, dict) and isinstance(a.get("status"), int) and 200 <= a["status"] <= 599
            for a in answers
        ):
            raise ValueError('"answers" must be a list of objects with an HTTP "status"')
        path = SUBMIT_PATH if body["endpoint"] == "submit" else POLL_PATH
        with self.lock:
            self.scripted[path].extend(answers)
            return len(self.scripted[path])

    def next_scripted(self, path: str) -> dict | None:
        with self.lock:
            queue = self.scripted.get(path)
            return queue.popleft() if queue else None

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

    def roll(self) -> FaultRoll:
        """Draw the faults of one submit or poll request (always three draws, for reproducibility)."""
        with self.lock:
            config = self.config
            before_draw, after_draw, never_draw = self.rng.random(), self.rng.random(), self.rng.random()
        before = None
        threshold = 0.0
        for kind, rate in (
            ("500", config.error_rate),
            ("429", config.rate_limit_rate),
            ("503", config.unavailable_rate),
        ):
            threshold += rate
            if before_draw < threshold:
                before = kind
                break
        after = None
        if after_draw < config.drop_rate:
            after = "drop"
        elif after_draw < config.drop_rate + config.slow_rate:
            after = "slow"
        return FaultRoll(before, after, never_draw < config.never_finish_rate)

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
        job_set = self._new_job_set(body, seed, never_finish, base_url)
        with self.lock:
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
            if job_set.webhook_url and job_set.terminal_at != math.inf and not self.stopping.is_set():
                self._schedule_webhook(job_set)
        self._paint_ahead(job_set)
        return job_set.submit_response

    def _paint_ahead(self, job_set: JobSet) -> None:
        """Draw the images this job set will show, while it "generates"."""
        if job_set.terminal_at == math.inf:
            return
        for index, outcome in enumerate(job_set.outcomes):
            if outcome == "completed":
                for kind in ("raw", "min"):
                    try:
                        self.painter.submit(result_png, job_set.input_params, index, kind)
                    except RuntimeError:
                        return  # shutting down: a download would draw it anyway

    def _new_job_set(self, body: dict, seed: int, never_finish: bool, base_url: str | None) -> JobSet:
        now = time.time()
        low, high = self.config.complete_range
        batch_size = _batch_size(body)
        input_params = _input_params(body, seed)
        forever = never_finish or never_finishes(body["prompt"])
        hook_url, hook_secret = body.get("webhook_url"), body.get("webhook_secret")
        has_hook = isinstance(hook_url, str) and isinstance(hook_secret, str)
        job_set = JobSet(
            id=str(uuid.uuid4()),
            created_at=_iso_now(),
            submitted_at=now,
            in_progress_at=now + self.config.queue_seconds,
            terminal_at=math.inf if forever else now + random.uniform(low, high),
            input_params=input_params,
            job_ids=[str(uuid.uuid4()) for _ in range(batch_size)],
            outcomes=outcomes_for(body["prompt"], batch_size),
            base_url=(base_url or self.config.public_url or "").rstrip("/"),
            webhook_url=hook_url if has_hook else None,
            webhook_secret=hook_secret if has_hook else None,
        )
        # The upstream answers a submit before any work starts: every job is queued.
        job_set.submit_response = {
            "type": JOB_SET_TYPE,
            "created_at": job_set.created_at,
            "jobs": [_job(job_id, "queued", None) for job_id in job_set.job_ids],
            "input_params": input_params,
            "job_set_id": job_set.id,
        }
        return job_set

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
        if found is None or found[0].status(found[1], time.time()) != "completed":
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
                "job_sets": len(self.job_sets),
                "completed_at": completed_at,
                "faults": dict(self.faults),
                "in_flight": self._in_flight(now),
                "max_in_flight_seen": self.max_in_flight_seen,
                "max_concurrent_polls_per_job_set": self.max_concurrent_polls_per_job_set,
                "webhooks_pending": len(self.webhook_timers),
            }

    # Webhooks

    def _schedule_webhook(self, job_set: JobSet) -> None:
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
            # The timer may fire a hair early by the wall clock: show the terminal state anyway.
            final = job_set.view(max(time.time(), job_set.terminal_at), job_set.base_url)
            final_id = f"msg_{uuid.uuid4().hex}"
            messages = [(final_id, final)] * (1 + duplicates)
            if reorder:
                # What a callback sent while the jobs were running looks like, arriving late.
                stale = job_set.view(max(time.time(), job_set.terminal_at), job_set.base_url)
                stale["jobs"] = [_job(job["id"], "in_progress", None) for job in stale["jobs"]]
                messages.append((f"msg_{uuid.uuid4().hex}", stale))
            for message_id, payload in messages:
                body = json.dumps(payload).encode()
                delivered, problem = deliver_webhook(
                    url, job_set.webhook_secret or "", message_id, body, self.stopping
                )
                if self.stopping.is_set():
                    return
                with self.lock:
                    if generation == self.generation:
                        self.counters["webhooks_sent" if delivered else "webhooks_failed"] += 1
                if not delivered and not quiet:
                    # The host only: the path may carry the receiver's secret token.
                    host = urlsplit(url).netloc.rpartition("@")[2]
                    sys.stderr.write(f"webhook {message_id} to {host} failed: {problem}\n")
        except Exception:
            traceback.print_exc(file=sys.stderr)
        finally:
            with self.lock:
                if generation == self.generation:
                    self.webhook_timers.pop(job_set.id, None)


def webhook_key(secret: str) -> bytes:
    """The HMAC key: base64-decoded after ``whsec_`` (Standard Webhooks), else the UTF-8 bytes."""
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret[len("whsec_") :], validate=True)
        except ValueError:  # not base64 after all: use the secret as it is
            pass
    return secret.encode()


def sign_webhook(secret: str, message_id: str, timestamp: str | int, body: bytes) -> str:
    """The ``webhook-signature`` header value: ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(webhook_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """POST with http.client (no proxies, no redirects); return the status."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("not an http(s) URL")
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(parts.hostname, parts.port, timeout=timeout)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def deliver_webhook(
    url: str, secret: str, message_id: str, body: bytes, stop: threading.Event | None = None
) -> tuple[bool, str]:
    """POST one signed message, retrying a few times with backoff; (delivered, last problem).

    Every attempt of one message carries the same ``webhook-id`` and a fresh timestamp.
    Never raises.
    """
    stop = stop or threading.Event()
    problem = ""
    for attempt in range(WEBHOOK_ATTEMPTS):
        if attempt and stop.wait(WEBHOOK_BACKOFF * 2 ** (attempt - 1)):
            break
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "soul-sandbox",
            "webhook-id": message_id,
            "webhook-timestamp": timestamp,
            "webhook-signature": sign_webhook(secret, message_id, timestamp, body),
        }
        try:
            status = _post(url, body, headers, WEBHOOK_TIMEOUT)
        except ValueError:  # a URL that cannot work (http.client.InvalidURL is one too)
            return False, "invalid URL"
        except (OSError, http.client.HTTPException) as exc:
            problem = type(exc).__name__
            continue
        if 200 <= status < 300:
            return True, ""
        problem = f"answered {status}"
    return False, problem


def _job(job_id: str, status: str, results: dict | None) -> dict:
    return {"id": job_id, "job_set_type": JOB_SET_TYPE, "status": status, "results": results}


def _results(base_url: str, job_id: str) -> dict:
    return {
        "min": {"url": f"{base_url}/results/{job_id}/min.png", "type": "image"},
        "raw": {"url": f"{base_url}/results/{job_id}/raw.png", "type": "image"},
    }


def result_png(applied: dict, index: int, kind: str) -> bytes:
    """The PNG of one result (``kind`` "raw" or "min"); drawn once, then cached by :mod:`render`."""
    width, height = applied["width"], applied["height"]
    if kind == "min":
        width, height = render.preview_size(width, height)
    return render.render_png(applied["prompt"], applied["seed"], index, width, height)


def _json(status: int, payload: object) -> Response:
    body = json.dumps(payload).encode()
    return status, [("Content-Type", "application/json"), ("Cache-Control", "no-store")], body


def _error(status: int, message: str) -> Response:
    return _json(status, {"error": message})


def _png(body: bytes) -> Response:
    return 200, [("Content-Type", "image/png"), ("Cache-Control", "public, max-age=86400")], body


def format_seconds(seconds: float) -> str:
    """``1.0`` -> ``"1"``, ``1.5`` -> ``"1.5"`` (a Retry-After value)."""
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    base_url: str  # where result and preview URLs point

    def json_object(self) -> dict | None:
        """The body as a JSON object, or None when it is not one."""
        try:
            value = json.loads(self.body)
        except (ValueError, RecursionError):
            return None
        return value if isinstance(value, dict) else None


def _read_request(environ: dict, public_url: str | None) -> Request | None:
    """The request with its body read, or None when the body is too large to read."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY_BYTES:
        return None
    # Always read the body, even for requests answered with an error: closing a socket
    # with unread input makes the kernel reset the connection, and the client may lose
    # the answer.
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    headers = {
        key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")
    }
    if public_url:
        base_url = public_url.rstrip("/")
    else:
        host = headers.get("host") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
        base_url = f"{environ['wsgi.url_scheme']}://{host}"
    return Request(environ["REQUEST_METHOD"], environ.get("PATH_INFO") or "/", headers, body, base_url)


class DropConnection(Exception):
    """Raised by the app to close the connection without any answer (the ``drop`` fault).

    The sandbox's own server closes the socket quietly; another WSGI server may answer 500.
    """


_FAULTABLE = frozenset({SUBMIT_PATH, POLL_PATH})


def _polled_job_set(request: Request) -> str | None:
    """The job set id a poll request asks about (None for anything else)."""
    if request.method != "POST" or request.path != POLL_PATH:
        return None
    body = request.json_object()
    job_set_id = body.get("job_set_id") if body else None
    return job_set_id.lower() if params.is_uuid(job_set_id) else None


class SandboxApp:
    """The WSGI application: exact-path routes, the key checked on the API endpoints."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.config = state.config
        # path -> (methods, handler, needs the subscription key)
        self.routes: dict[str, tuple[tuple[str, ...], Callable[..., Response], bool]] = {
            SUBMIT_PATH: (("POST",), self.submit, True),
            POLL_PATH: (("POST",), self.poll, True),
            STYLES_PATH: (("GET",), self.styles, True),
            STATS_PATH: (("GET",), self.stats, False),
            RESET_PATH: (("POST",), self.reset, False),
            FAULTS_PATH: (("GET", "POST"), self.faults, False),
            SCRIPT_PATH: (("POST",), self.script, False),
        }

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        self.state.count("requests_total")
        after = None
        polled = None  # the job set this request polls, while it is being answered
        try:
            try:
                request = _read_request(environ, self.config.public_url)
                if request is None:
                    response = _error(413, "Request body too large")
                else:
                    polled = _polled_job_set(request)
                    if polled:
                        self.state.poll_begins(polled)
                    response, after = self.dispatch(request)
            except Exception:
                # Every error body must be JSON, even for the sandbox's own bugs.
                traceback.print_exc(file=sys.stderr)
                response = _error(500, "An unexpected error occurred, please try again later")
            if after == "drop":
                self.state.count_fault("drop")
                raise DropConnection
            if after == "slow":
                self.state.count_fault("slow")
                self.state.stopping.wait(self.config.slow_seconds)
        finally:
            if polled:
                self.state.poll_ends(polled)
        status, headers, body = response
        headers.append(("Content-Length", str(len(body))))
        start_response(f"{status} {HTTPStatus(status).phrase}", headers)
        return [body]

    def dispatch(self, request: Request) -> tuple[Response, str | None]:
        """The answer, and what to do after processing: None, "slow" or "drop"."""
        image = _RESULT_RE.match(request.path) or _SWATCH_RE.match(request.path)
        if image:
            if request.method != "GET":
                return _wrong_method(("GET",)), None
            return (self.result_image(image) if image.re is _RESULT_RE else self.swatch(image)), None
        route = self.routes.get(request.path)
        if route is None:
            return _error(404, "Endpoint not found"), None
        allowed, handler, needs_key = route
        if request.method not in allowed:
            return _wrong_method(allowed), None
        if needs_key and not self._authorized(request):
            if request.path == SUBMIT_PATH:
                self.state.count("submits_rejected")
            return _error(401, "Invalid or missing authentication"), None
        if request.path not in _FAULTABLE:
            return handler(request), None
        if request.path == POLL_PATH:
            self.state.count("polls")
        scripted = self.state.next_scripted(request.path)
        if scripted is not None:
            # A queued answer stands in for the real one; nothing is processed.
            self.state.count_fault("scripted")
            headers = [(str(k), str(v)) for k, v in (scripted.get("headers") or {}).items()]
            status, base_headers, payload = _json(scripted["status"], scripted.get("body", {}))
            return (status, base_headers + headers, payload), None
        roll = self.state.roll()
        if roll.before:
            return self._injected(roll.before), None
        return handler(request, roll), roll.after

    def _injected(self, kind: str) -> Response:
        self.state.count_fault(kind)
        if kind == "429":
            status, headers, body = _error(429, ERROR_429)
            headers.append(("Retry-After", format_seconds(self.config.retry_after)))
            return status, headers, body
        return _error(500, ERROR_500) if kind == "500" else _error(503, ERROR_503)

    def _authorized(self, request: Request) -> bool:
        given = request.headers.get("ocp-apim-subscription-key", "")
        if not given:
            return False
        if self.config.api_key is None:
            return True
        return hmac.compare_digest(given.encode(), self.config.api_key.encode())

    def submit(self, request: Request, roll: FaultRoll | None = None) -> Response:
        body = request.json_object()
        if body is None:
            self.state.count("submits_rejected")
            return _error(400, "Invalid request parameters")
        errors = params.validate(body)
        if errors:
            self.state.count("submits_rejected")
            return _error(400, "Invalid request parameters: " + params.describe_errors(errors))
        try:
            response = self.state.submit(
                body,
                request.headers.get("idempotency-key") or None,
                base_url=request.base_url,
                never_finish=bool(roll and roll.never_finish),
            )
        except ConcurrencyLimitReached as exc:
            # Higgsfield's shape and status for a busy account (not 429).
            return _json(400, {"detail": str(exc)})
        return _json(200, response)

    def poll(self, request: Request, roll: FaultRoll | None = None) -> Response:
        body = request.json_object()
        if body is None:
            return _error(400, "Invalid request parameters")
        job_set_id = body.get("job_set_id")
        if not params.is_uuid(job_set_id):
            return _error(400, "Invalid request parameters: job_set_id must be a job set's UUID")
        found = self.state.poll(job_set_id.lower(), request.base_url)
        return _json(200, found) if found else _error(404, "Job set not found")

    def styles(self, request: Request) -> Response:
        self.state.count("styles_requests")
        return _json(
            200,
            [
                {
                    "id": style_id,
                    "name": name,
                    "description": description,
                    "preview_url": f"{request.base_url}/_sandbox/styles/{style_id}.png",
                }
                for style_id, name, description in STYLES
            ],
        )

    def stats(self, request: Request) -> Response:
        return _json(200, self.state.stats())

    def reset(self, request: Request) -> Response:
        self.state.reset()
        return _json(200, {"reset": True})

    def faults(self, request: Request) -> Response:
        if request.method == "GET":
            return _json(200, self.config.settings())
        try:
            return _json(200, self.state.update_settings(request.json_object()))
        except ValueError as exc:
            return _error(400, str(exc))

    def script(self, request: Request) -> Response:
        try:
            return _json(200, {"queued": self.state.script(request.json_object())})
        except ValueError as exc:
            return _error(400, str(exc))

    def result_image(self, match: re.Match) -> Response:
        job_id, kind = match.groups()
        found = self.state.completed_job(job_id)
        if found is None:
            return _error(404, "Result not found")
        job_set, index = found
        return _png(result_png(job_set.input_params, index, kind))

    def swatch(self, match: re.Match) -> Response:
        style_id = match.group(1)
        name = _STYLE_NAMES.get(style_id)
        if name is None:
            return _error(404, "Style not found")
        return _png(render.render_swatch(style_id, name))


def _wrong_method(allowed: tuple[str, ...]) -> Response:
    methods = ", ".join(allowed)
    status, headers, body = _error(405, f"Method not allowed; use {methods}")
    headers.append(("Allow", methods))
    return status, headers, body


def make_app(config: SandboxConfig | None = None) -> tuple[SandboxApp, SandboxState]:
    state = SandboxState(config or SandboxConfig())
    return SandboxApp(state), state


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a hung client must not keep the process alive on shutdown
    allow_reuse_address = True

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall for seconds
        # without DNS; the name is only used for SERVER_NAME, so use the address as is.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), port
        self.setup_environ()


class _ServerHandler(ServerHandler):
    """wsgiref's handler, except that DropConnection writes nothing at all."""

    dropped = False

    def handle_error(self) -> None:
        if isinstance(sys.exc_info()[1], DropConnection):
            self.dropped = True
            return
        super().handle_error()


class _RequestHandler(WSGIRequestHandler):
    def handle(self) -> None:
        """WSGIRequestHandler.handle with :class:`_ServerHandler`: one request per connection.

        After a drop, the socket is shut down and closed by the server with nothing
        written, so the client sees the connection end without an answer.
        """
        self.raw_requestline = self.rfile.readline(65537)
        if len(self.raw_requestline) > 65536:
            self.requestline = ""
            self.request_version = ""
            self.command = ""
            self.send_error(414)
            return
        if not self.parse_request():  # an error answer has been sent
            return
        handler = _ServerHandler(
            self.rfile, self.wfile, self.get_stderr(), self.get_environ(), multithread=False
        )
        handler.request_handler = self  # back-pointer for logging
        handler.run(self.server.get_app())
        if handler.dropped:
            self.close_connection = True
            self.log_request("DROP")


class _QuietHandler(_RequestHandler):
    def log_message(self, *args: object) -> None:
        pass


class _VerboseHandler(_RequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # The method and path only: never headers, and never the query string (APIM
        # also accepts the key as ?subscription-key=, so a client might put it there).
        path = self.path.split("?", 1)[0]
        sys.stderr.write(f"{self.address_string()} {self.command} {path} {code}\n")


class SandboxServer:
    """The sandbox on a real socket. ``port=0`` picks a free port; see :attr:`url`."""

    def __init__(self, config: SandboxConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config or SandboxConfig()
        self.app, self.state = make_app(self.config)
        handler = _QuietHandler if self.config.quiet else _VerboseHandler
        self._httpd = make_server(
            host, port, self.app, server_class=_ThreadingWSGIServer, handler_class=handler
        )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        address = ipaddress.ip_address(host)
        # A wildcard bind is reachable on loopback; IPv6 literals need brackets in a URL.
        if address.is_unspecified:
            return f"http://127.0.0.1:{port}" if address.version == 4 else f"http://[::1]:{port}"
        return f"http://{host}:{port}" if address.version == 4 else f"http://[{host}]:{port}"

    def stats(self) -> dict:
        """What ``GET /_sandbox/stats`` shows, read in-process."""
        return self.state.stats()

    def configure(self, **changes: object) -> dict:
        """Change fault, webhook and timing settings in-process, like ``POST /_sandbox/faults``."""
        return self.state.update_settings(changes)

    def start(self) -> SandboxServer:
        """Serve in a daemon thread; returns self."""
        # A short poll interval makes stop() quick, which keeps test fixtures fast.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="soul-sandbox", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until :meth:`stop` or KeyboardInterrupt; then close the socket."""
        try:
            self._httpd.serve_forever()
        finally:
            self.state.shutdown()
            self._httpd.server_close()

    def stop(self) -> None:
        """Stop serving, cancel pending webhooks and end slow answers' waits."""
        self.state.shutdown()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
