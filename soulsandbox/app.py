"""The sandbox's WSGI application: exact-path routes, the key checked on the API endpoints.

The API endpoints are the contract's (:mod:`soulwire.contract`) and need the subscription
key. Result images (``/results/<job id>/raw.png`` and ``min.png``) and style previews are
served without a key, like a CDN. ``GET /_sandbox/stats``, ``POST /_sandbox/reset``,
``GET``/``POST /_sandbox/faults`` and ``POST /_sandbox/script`` exist for tests and
benchmarks (no key needed).
"""

from __future__ import annotations

import hmac
import json
import re
import sys
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus

from soulsandbox import render
from soulsandbox.config import SandboxConfig
from soulsandbox.faults import (
    FAULTABLE_PATHS,
    ConcurrencyLimitReached,
    FaultRoll,
    injected_response,
    scripted_response,
)
from soulsandbox.jobsets import RESULT_RE
from soulsandbox.responses import Response, error_response, json_response, png_response, wrong_method
from soulsandbox.state import SandboxState
from soulsandbox.styles import SWATCH_RE, catalogue, style_name
from soulwire import params
from soulwire.contract import IDEMPOTENCY_HEADER, KEY_HEADER, POLL_PATH, STYLES_PATH, SUBMIT_PATH

STATS_PATH = "/_sandbox/stats"
RESET_PATH = "/_sandbox/reset"
FAULTS_PATH = "/_sandbox/faults"
SCRIPT_PATH = "/_sandbox/script"
# The largest body the sandbox reads. The real gateway's limit is not published; its API
# Management front answers 413 to a body over it. A valid submit is a few kilobytes (a prompt of
# at most soulwire.params.PROMPT_MAX_LENGTH characters, a URL of at most 2,083), so 1 MiB only
# refuses what no honest client sends.
MAX_BODY_BYTES = 1 << 20
# An oversized body is read and thrown away up to this much, so that the client, still sending,
# gets the 413 instead of a reset connection; beyond it the connection is closed unread.
_DRAIN_BYTES = 16 << 20

_FAULTABLE = frozenset(FAULTABLE_PATHS.values())


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


def read_request(environ: dict, public_url: str | None) -> Request | None:
    """The request with its body read, or None when the body is too large to read."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY_BYTES:
        _drain(environ["wsgi.input"], min(length, _DRAIN_BYTES))
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


def _drain(stream, length: int) -> None:
    while length > 0:
        chunk = stream.read(min(length, 64 << 10))
        if not chunk:
            return
        length -= len(chunk)


class DropConnection(Exception):
    """Raised by the app to close the connection without any answer (the ``drop`` fault).

    The sandbox's own server closes the socket quietly; another WSGI server may answer 500.
    """


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
                request = read_request(environ, self.config.public_url)
                if request is None:
                    # As the gateway's front answers; the client library treats it as an invalid request.
                    response = error_response(413, "Request Entity Too Large")
                else:
                    polled = _polled_job_set(request)
                    if polled:
                        self.state.poll_begins(polled)
                    response, after = self.dispatch(request)
            except TimeoutError:
                # The client stopped sending half way (the server's socket timeout): close quietly.
                raise DropConnection from None
            except Exception:
                # Every error body must be JSON, even for the sandbox's own bugs.
                traceback.print_exc(file=sys.stderr)
                response = error_response(500, "An unexpected error occurred, please try again later")
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
        image = RESULT_RE.match(request.path) or SWATCH_RE.match(request.path)
        if image:
            if request.method != "GET":
                return wrong_method(("GET",)), None
            return (self.result_image(image) if image.re is RESULT_RE else self.swatch(image)), None
        route = self.routes.get(request.path)
        if route is None:
            return error_response(404, "Endpoint not found"), None
        allowed, handler, needs_key = route
        if request.method not in allowed:
            return wrong_method(allowed), None
        if needs_key and not self._authorized(request):
            if request.path == SUBMIT_PATH:
                self.state.count("submits_rejected")
            return error_response(401, "Invalid or missing authentication"), None
        if request.path not in _FAULTABLE:
            return handler(request), None
        if request.path == POLL_PATH:
            self.state.count("polls")
        scripted = self.state.next_scripted(request.path)
        if scripted is not None:
            # A queued answer stands in for the real one; nothing is processed.
            self.state.count_fault("scripted")
            return scripted_response(scripted), None
        roll = self.state.roll()
        if roll.before:
            self.state.count_fault(roll.before)
            return injected_response(roll.before, self.config.retry_after), None
        return handler(request, roll), roll.after

    def _authorized(self, request: Request) -> bool:
        given = request.headers.get(KEY_HEADER.lower(), "")
        if not given:
            return False
        if self.config.api_key is None:
            return True
        return hmac.compare_digest(given.encode(), self.config.api_key.encode())

    def submit(self, request: Request, roll: FaultRoll | None = None) -> Response:
        body = request.json_object()
        if body is None:
            self.state.count("submits_rejected")
            return error_response(400, "Invalid request parameters")
        errors = params.validate(body)
        if errors:
            self.state.count("submits_rejected")
            return error_response(400, "Invalid request parameters: " + params.describe_errors(errors))
        try:
            response = self.state.submit(
                body,
                request.headers.get(IDEMPOTENCY_HEADER.lower()) or None,
                base_url=request.base_url,
                never_finish=bool(roll and roll.never_finish),
            )
        except ConcurrencyLimitReached as exc:
            # Higgsfield's shape and status for a busy account (not 429).
            return json_response(400, {"detail": str(exc)})
        return json_response(200, response)

    def poll(self, request: Request, roll: FaultRoll | None = None) -> Response:
        body = request.json_object()
        if body is None:
            return error_response(400, "Invalid request parameters")
        job_set_id = body.get("job_set_id")
        if not params.is_uuid(job_set_id):
            return error_response(400, "Invalid request parameters: job_set_id must be a job set's UUID")
        found = self.state.poll(job_set_id.lower(), request.base_url)
        return json_response(200, found) if found else error_response(404, "Job set not found")

    def styles(self, request: Request) -> Response:
        self.state.count("styles_requests")
        return json_response(200, catalogue(request.base_url))

    def stats(self, request: Request) -> Response:
        return json_response(200, self.state.stats())

    def reset(self, request: Request) -> Response:
        self.state.reset()
        return json_response(200, {"reset": True})

    def faults(self, request: Request) -> Response:
        if request.method == "GET":
            return json_response(200, self.config.settings())
        try:
            return json_response(200, self.state.update_settings(request.json_object()))
        except ValueError as exc:
            return error_response(400, str(exc))

    def script(self, request: Request) -> Response:
        try:
            return json_response(200, {"queued": self.state.script(request.json_object())})
        except ValueError as exc:
            return error_response(400, str(exc))

    def result_image(self, match: re.Match) -> Response:
        job_id, kind = match.groups()
        found = self.state.completed_job(job_id)
        if found is None:
            return error_response(404, "Result not found")
        job_set, index = found
        return png_response(render.result_png(job_set.input_params, index, kind))

    def swatch(self, match: re.Match) -> Response:
        style_id = match.group(1)
        name = style_name(style_id)
        if name is None:
            return error_response(404, "Style not found")
        return png_response(render.render_swatch(style_id, name))


def make_app(config: SandboxConfig | None = None) -> tuple[SandboxApp, SandboxState]:
    state = SandboxState(config or SandboxConfig())
    return SandboxApp(state), state
