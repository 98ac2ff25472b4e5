"""A local stand-in for the Pixazo gateway's Higgsfield Soul API (see /work/shared/SOUL_API.md).

A small WSGI app with a threaded server around it. It imports only the standard
library, Pillow (through :mod:`render`) and :mod:`params`: it is a separate program
that happens to live in the repo, and must run without Django.

Behaviour worth knowing when testing against it:

- Jobs are ``queued`` for ``queue_seconds``, then ``in_progress``, then terminal at
  ``complete_seconds`` after the submit (a float, or ``"2-10"`` for a uniformly random
  duration per job set). Statuses are computed from the wall clock on each poll.
- The prompt picks the outcome: the word ``nsfw`` makes every job ``nsfw``, ``fail``
  makes every job ``failed``, and ``partial`` in a batch of 4 fails jobs 2 and 4.
- Result images (``/results/<job id>/raw.png`` and ``min.png``) and style previews
  are served without a key, like a CDN.
- ``GET /_sandbox/stats`` and ``POST /_sandbox/reset`` exist for tests and benchmarks.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import random
import re
import socketserver
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from . import params, render

JOB_SET_TYPE = "text2image_soul"
SUBMIT_PATH = "/ai-model-api/v1/generateSoul"
POLL_PATH = "/ai-model-api-polling/getGenerationResults"
STYLES_PATH = "/ai-model-api-polling/getTextToImageGetSoulStyles"
STATS_PATH = "/_sandbox/stats"
RESET_PATH = "/_sandbox/reset"
MAX_BODY_BYTES = 1 << 20
COUNTERS = (
    "submits_accepted",
    "submits_replayed",
    "submits_rejected",
    "polls",
    "styles_requests",
    "requests_total",
)

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
_RESULT_RE = re.compile(r"^/results/([0-9a-f-]{36})/(raw|min)\.png$")
_SWATCH_RE = re.compile(r"^/_sandbox/styles/([0-9a-f-]{36})\.png$")

Response = tuple[int, list[tuple[str, str]], bytes]


@dataclass
class SandboxConfig:
    # None: any non-empty key is accepted. Kept out of repr so it never reaches a log line.
    api_key: str | None = field(default=None, repr=False)
    queue_seconds: float = 1.0
    complete_seconds: str | float = 3.0  # seconds after submit, or "low-high" for a random duration
    public_url: str | None = None  # base of result and preview URLs; default: the request's Host
    quiet: bool = True

    def __post_init__(self) -> None:
        # Fail at start-up rather than on the first submit.
        if self.queue_seconds < 0:
            raise ValueError("queue_seconds must not be negative")
        parse_seconds_range(self.complete_seconds)

    @property
    def complete_range(self) -> tuple[float, float]:
        return parse_seconds_range(self.complete_seconds)


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
    terminal_at: float
    input_params: dict
    job_ids: list[str]
    outcomes: list[str]
    submit_response: dict = field(default_factory=dict)

    def status(self, index: int, now: float) -> str:
        if now >= self.terminal_at:
            return self.outcomes[index]
        return "in_progress" if now >= self.in_progress_at else "queued"


class SandboxState:
    """The job store and counters, shared by the server's threads (every access under ``lock``)."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.job_sets: dict[str, JobSet] = {}
            self.jobs: dict[str, tuple[JobSet, int]] = {}
            self.idempotency: dict[str, str] = {}
            self.counters = dict.fromkeys(COUNTERS, 0)
            self.accepted_by_key: dict[str, int] = {}

    def count(self, name: str) -> None:
        with self.lock:
            self.counters[name] += 1

    def submit(self, body: dict, idempotency_key: str | None = None) -> dict:
        """Store a new job set for a validated ``body``; return the submit response.

        A submit whose idempotency key was seen before stores nothing and gets the
        first response again, as upstream does for a retried request. The check and
        the store share one lock, so two concurrent retries cannot both be accepted.
        """
        seed = body.get("seed")
        if seed is None:
            seed = random.randint(params.SEED_MIN, params.SEED_MAX)
        job_set = self._new_job_set(body, seed)
        with self.lock:
            if idempotency_key and idempotency_key in self.idempotency:
                self.counters["submits_replayed"] += 1
                return self.job_sets[self.idempotency[idempotency_key]].submit_response
            self.job_sets[job_set.id] = job_set
            for index, job_id in enumerate(job_set.job_ids):
                self.jobs[job_id] = (job_set, index)
            self.counters["submits_accepted"] += 1
            if idempotency_key:
                self.idempotency[idempotency_key] = job_set.id
                self.accepted_by_key[idempotency_key] = self.accepted_by_key.get(idempotency_key, 0) + 1
        return job_set.submit_response

    def _new_job_set(self, body: dict, seed: int) -> JobSet:
        now = time.time()
        low, high = self.config.complete_range
        batch_size = _batch_size(body)
        input_params = _input_params(body, seed)
        job_set = JobSet(
            id=str(uuid.uuid4()),
            created_at=_iso_now(),
            submitted_at=now,
            in_progress_at=now + self.config.queue_seconds,
            terminal_at=now + random.uniform(low, high),
            input_params=input_params,
            job_ids=[str(uuid.uuid4()) for _ in range(batch_size)],
            outcomes=outcomes_for(body["prompt"], batch_size),
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
        """The job set as the poll endpoint shows it now, or None when unknown."""
        now = time.time()
        with self.lock:
            job_set = self.job_sets.get(job_set_id)
        if job_set is None:
            return None
        jobs = []
        for index, job_id in enumerate(job_set.job_ids):
            status = job_set.status(index, now)
            jobs.append(_job(job_id, status, _results(base_url, job_id) if status == "completed" else None))
        return {
            "id": job_set.id,
            "type": JOB_SET_TYPE,
            "created_at": job_set.created_at,
            "jobs": jobs,
            "input_params": job_set.input_params,
        }

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
            }


def _job(job_id: str, status: str, results: dict | None) -> dict:
    return {"id": job_id, "job_set_type": JOB_SET_TYPE, "status": status, "results": results}


def _results(base_url: str, job_id: str) -> dict:
    return {
        "min": {"url": f"{base_url}/results/{job_id}/min.png", "type": "image"},
        "raw": {"url": f"{base_url}/results/{job_id}/raw.png", "type": "image"},
    }


def _json(status: int, payload: object) -> Response:
    body = json.dumps(payload).encode()
    return status, [("Content-Type", "application/json"), ("Cache-Control", "no-store")], body


def _error(status: int, message: str) -> Response:
    return _json(status, {"error": message})


def _png(body: bytes) -> Response:
    return 200, [("Content-Type", "image/png"), ("Cache-Control", "public, max-age=86400")], body


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


class SandboxApp:
    """The WSGI application: exact-path routes, the key checked on the API endpoints."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.config = state.config
        # path -> (method, handler, needs the subscription key)
        self.routes: dict[str, tuple[str, Callable[[Request], Response], bool]] = {
            SUBMIT_PATH: ("POST", self.submit, True),
            POLL_PATH: ("POST", self.poll, True),
            STYLES_PATH: ("GET", self.styles, True),
            STATS_PATH: ("GET", self.stats, False),
            RESET_PATH: ("POST", self.reset, False),
        }

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        self.state.count("requests_total")
        try:
            request = _read_request(environ, self.config.public_url)
            if request is None:
                status, headers, body = _error(413, "Request body too large")
            else:
                status, headers, body = self.dispatch(request)
        except Exception:
            # Every error body must be JSON, even for the sandbox's own bugs.
            traceback.print_exc(file=sys.stderr)
            status, headers, body = _error(500, "An unexpected error occurred, please try again later")
        headers.append(("Content-Length", str(len(body))))
        start_response(f"{status} {HTTPStatus(status).phrase}", headers)
        return [body]

    def dispatch(self, request: Request) -> Response:
        image = _RESULT_RE.match(request.path) or _SWATCH_RE.match(request.path)
        if image:
            if request.method != "GET":
                return _wrong_method("GET")
            return self.result_image(image) if image.re is _RESULT_RE else self.swatch(image)
        route = self.routes.get(request.path)
        if route is None:
            return _error(404, "Endpoint not found")
        allowed, handler, needs_key = route
        if request.method != allowed:
            return _wrong_method(allowed)
        if needs_key and not self._authorized(request):
            if handler == self.submit:
                self.state.count("submits_rejected")
            return _error(401, "Invalid or missing authentication")
        return handler(request)

    def _authorized(self, request: Request) -> bool:
        given = request.headers.get("ocp-apim-subscription-key", "")
        if not given:
            return False
        if self.config.api_key is None:
            return True
        return hmac.compare_digest(given.encode(), self.config.api_key.encode())

    def submit(self, request: Request) -> Response:
        body = request.json_object()
        if body is None:
            self.state.count("submits_rejected")
            return _error(400, "Invalid request parameters")
        errors = params.validate(body)
        if errors:
            self.state.count("submits_rejected")
            return _error(400, "Invalid request parameters: " + params.describe_errors(errors))
        return _json(200, self.state.submit(body, request.headers.get("idempotency-key") or None))

    def poll(self, request: Request) -> Response:
        self.state.count("polls")
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

    def result_image(self, match: re.Match) -> Response:
        job_id, kind = match.groups()
        found = self.state.completed_job(job_id)
        if found is None:
            return _error(404, "Result not found")
        job_set, index = found
        applied = job_set.input_params
        width, height = applied["width"], applied["height"]
        if kind == "min":
            width, height = render.preview_size(width, height)
        return _png(render.render_png(applied["prompt"], applied["seed"], index, width, height))

    def swatch(self, match: re.Match) -> Response:
        style_id = match.group(1)
        name = _STYLE_NAMES.get(style_id)
        if name is None:
            return _error(404, "Style not found")
        return _png(render.render_swatch(style_id, name))


def _wrong_method(allowed: str) -> Response:
    status, headers, body = _error(405, f"Method not allowed; use {allowed}")
    headers.append(("Allow", allowed))
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


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


class _VerboseHandler(WSGIRequestHandler):
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
            self._httpd.server_close()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
