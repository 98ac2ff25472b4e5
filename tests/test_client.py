"""The Soul client: parsing, error classification, transport failures, the wire, secrecy.

Most tests talk real HTTP to a tiny recording server defined here, whose answers each
test sets; a few talk to the sandbox gateway. None needs the database.
"""

from __future__ import annotations

import io
import json
import logging
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from generations.upstream import client as soul
from generations.upstream.client import (
    AccessDenied,
    BadRequest,
    ConcurrencyLimited,
    GatewayUnreachable,
    InvalidParams,
    NoResponse,
    NotFound,
    ProtocolError,
    RateLimited,
    ResultTooLarge,
    ServerError,
    SoulClient,
    Unauthorized,
    Unavailable,
    parse_job_set,
    parse_styles,
)
from soulsandbox import SandboxConfig, SandboxServer
from soulwire.contract import POLL_PATH, SUBMIT_PATH

KEY = "test-key-7d2e9b1c4a"
JOB_SET_ID = "62d118c0-5b1a-4c8e-9f3d-2a7b6c5d4e3f"
JOB_ID = "2f25c926-1e4b-4a7c-8d2f-0b9a8c7d6e5f"
GENERAL = "464ea177-8d40-4940-8d9d-b438bab269c7"
GIANT_PEOPLE = "a5f63c3b-70eb-4979-af5e-98c7ee1e18e8"

SUBMIT_SAMPLE = {
    "type": "text2image_soul",
    "created_at": "2025-09-17T08:40:11.428533Z",
    "jobs": [{"id": JOB_ID, "job_set_type": "text2image_soul", "status": "queued", "results": None}],
    "input_params": {
        "prompt": "a lighthouse at dusk",
        "width": 1536,
        "height": 1152,
        "enhance_prompt": True,
        "style_id": GENERAL,
        "style_strength": 1,
        "seed": 832591,
        "custom_reference": None,
        "custom_reference_strength": 1,
        "image_reference": {"id": "0c1d2e3f", "type": "media_input", "url": "https://example.com/ref.jpg"},
    },
    "job_set_id": JOB_SET_ID,
}

POLL_SAMPLE = {
    "id": "96ddb2c0-7a1b-4c2d-8e3f-4a5b6c7d8e9f",
    "type": "text2image_soul",
    "created_at": "2025-09-17T08:40:11.428533Z",
    "jobs": [
        {
            "id": "182d2a3c-9f8e-4d7c-b6a5-948372615041",
            "job_set_type": "text2image_soul",
            "status": "completed",
            "results": {
                "min": {"url": "https://cdn.example.com/182d2a3c_min.mp4", "type": "image"},
                "raw": {"url": "https://cdn.example.com/182d2a3c_raw.mp4", "type": "image"},
            },
        }
    ],
    "input_params": {"prompt": "a lighthouse at dusk"},
}

PAYLOAD = {
    "prompt": "a lighthouse at dusk",
    "width_and_height": "1536x1152",
    "enhance_prompt": True,
    "style_id": GIANT_PEOPLE,
    "style_strength": 0.75,
    "quality": "1080p",
    "seed": 832591,
    "batch_size": 1,
}


def job(status: str, index: int = 0, results: dict | None = None) -> dict:
    return {"id": f"job-{index}", "job_set_type": "text2image_soul", "status": status, "results": results}


def completed_results(index: int) -> dict:
    return {
        "min": {"url": f"https://cdn.example.com/{index}_min.png", "type": "image"},
        "raw": {"url": f"https://cdn.example.com/{index}_raw.png", "type": "image"},
    }


# --- A recording HTTP server ---------------------------------------------------------


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | str | dict | list = b"{}"
    # "answer" as set; "hang" reads the request and never answers; "close" reads it and hangs up.
    mode: str = "answer"
    chunked: bool = False
    hang_up: bool = False  # close the connection after answering


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self):
        return json.loads(self.body)


class Recorder:
    """Answers every request with :attr:`answer` (or a per-path one) and records what it saw."""

    def __init__(self) -> None:
        self.answer = Answer()
        self.routes: dict[str, Answer] = {}
        self.requests: list[Recorded] = []
        self.release = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._httpd.handle_error = lambda request, address: None  # clients hanging up are expected
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def last(self) -> Recorded:
        assert self.requests, "the server saw no request"
        return self.requests[-1]

    def respond(self, status: int = 200, body=b"{}", headers: dict[str, str] | None = None, **kw) -> None:
        self.answer = Answer(status=status, headers=headers or {}, body=body, **kw)

    def start(self) -> Recorder:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                self._handle()

            do_POST = do_PUT = do_DELETE = do_GET

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                recorder.requests.append(
                    Recorded(self.command, path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                answer = recorder.routes.get(path, recorder.answer)
                if answer.mode == "hang":
                    recorder.release.wait(10)
                    self.close_connection = True
                    return
                if answer.mode == "close":
                    self.close_connection = True
                    return
                payload = answer.body
                if isinstance(payload, (dict, list)):
                    payload = json.dumps(payload)
                if isinstance(payload, str):
                    payload = payload.encode()
                self.send_response(answer.status)
                headers = {"Content-Type": "application/json", **answer.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                if answer.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for start in range(0, len(payload), 8192):
                        piece = payload[start : start + 8192]
                        self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    if "Content-Length" not in headers:
                        self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                if answer.hang_up:
                    self.close_connection = True

        return Handler


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder().start()
    yield server
    server.stop()


def make_client(base_url: str, key: str = KEY, **kw) -> SoulClient:
    kw.setdefault("connect_timeout", 1)
    kw.setdefault("read_timeout", 0.5)
    return SoulClient(base_url, key, user_agent="soulsite-test/1", **kw)


@pytest.fixture
def client(recorder) -> SoulClient:
    return make_client(recorder.url)


def everything_said(exc: BaseException) -> str:
    """str, repr and the whole formatted chain of an exception."""
    return f"{exc}\n{exc!r}\n" + "".join(traceback.format_exception(exc))


# --- 1. Parsing ----------------------------------------------------------------------


def test_it_parses_the_documented_submit_sample():
    result = parse_job_set(SUBMIT_SAMPLE)

    assert result.id == JOB_SET_ID
    assert len(result.jobs) == 1
    only = result.jobs[0]
    assert (only.id, only.status, only.raw_url, only.min_url) == (JOB_ID, "queued", None, None)
    assert not only.terminal
    assert not result.finished
    assert result.status is None
    assert result.input_params["style_id"] == GENERAL


def test_it_parses_the_documented_poll_sample_with_id_instead_of_job_set_id():
    result = parse_job_set(POLL_SAMPLE)

    assert result.id == "96ddb2c0-7a1b-4c2d-8e3f-4a5b6c7d8e9f"
    assert result.finished
    only = result.jobs[0]
    assert only.status == "completed"
    assert only.raw_url == "https://cdn.example.com/182d2a3c_raw.mp4"
    assert only.min_url == "https://cdn.example.com/182d2a3c_min.mp4"


def test_it_parses_the_generic_pixazo_shape_as_completed_with_image_url_as_raw():
    result = parse_job_set(
        {
            "status": "succeeded",
            "results": [{"imageUrl": "https://cdn.example.com/out.png", "job_id": "job_123"}],
            "job_set_id": JOB_SET_ID,
        }
    )

    assert result.id == JOB_SET_ID
    assert result.status == "completed"
    assert result.finished
    assert [(j.id, j.status, j.raw_url) for j in result.jobs] == [
        ("job_123", "completed", "https://cdn.example.com/out.png")
    ]


def test_it_keeps_a_generic_pixazo_job_set_without_results_unfinished_while_processing():
    result = parse_job_set({"status": "processing", "results": [], "job_set_id": JOB_SET_ID})

    assert result.status == "in_progress"
    assert result.jobs == ()
    assert not result.finished


def test_it_says_a_batch_of_four_is_unfinished_until_every_job_is_terminal():
    # The Higgsfield JS SDK stopped at the first terminal job; every job must be terminal.
    def batch(*statuses):
        return parse_job_set(
            {
                "id": JOB_SET_ID,
                "jobs": [
                    job(status, i, completed_results(i) if status == "completed" else None)
                    for i, status in enumerate(statuses)
                ],
            }
        )

    assert not batch("completed", "queued", "queued", "queued").finished
    assert not batch("completed", "failed", "in_progress", "completed").finished
    assert not batch("completed", "nsfw", "canceled", "queued").finished
    done = batch("completed", "failed", "nsfw", "canceled")
    assert done.finished
    assert [j.terminal for j in done.jobs] == [True, True, True, True]
    assert done.jobs[0].raw_url == "https://cdn.example.com/0_raw.png"
    assert done.jobs[1].raw_url is None


def test_it_treats_an_unknown_status_as_not_terminal_and_keeps_its_spelling():
    result = parse_job_set({"id": JOB_SET_ID, "jobs": [job("completed"), job("Rendering", 1)]})

    assert result.jobs[1].status == "rendering"
    assert not result.jobs[1].terminal
    assert not result.finished


@pytest.mark.parametrize(
    ("spelled", "normal"),
    [("cancelled", "canceled"), ("succeeded", "completed"), ("CANCELLED", "canceled")],
)
def test_it_understands_status_aliases(spelled, normal):
    result = parse_job_set({"id": JOB_SET_ID, "jobs": [job(spelled)]})

    assert result.jobs[0].status == normal
    assert result.finished


@pytest.mark.parametrize(
    "data",
    [
        {"jobs": [job("queued")]},
        {"job_set_id": "", "jobs": []},
        {"id": None, "jobs": []},
        {"job_set_id": 12345},
    ],
    ids=["absent", "empty", "null", "not-a-string"],
)
def test_it_refuses_an_answer_without_a_job_set_id(data):
    with pytest.raises(ProtocolError, match="no job set id"):
        parse_job_set(data)


@pytest.mark.parametrize("data", [None, [], [SUBMIT_SAMPLE], "queued", 42])
def test_it_refuses_an_answer_that_is_not_an_object(data):
    with pytest.raises(ProtocolError):
        parse_job_set(data)


STYLE_ENTRIES = [
    {"id": GENERAL, "name": "General", "description": "Balanced", "preview_url": "https://cdn/g.png"},
    {"id": "not-a-uuid", "name": "Broken"},
    {"name": "No id at all"},
    {"id": GIANT_PEOPLE.upper(), "name": "Giant People"},
    "a string, not an entry",
    {"id": "1cb4b936-77bf-4f9a-9039-f3d349a4cdbe", "name": ""},
]


@pytest.mark.parametrize(
    "data", [STYLE_ENTRIES, {"styles": STYLE_ENTRIES}], ids=["a list", "an object with styles"]
)
def test_it_parses_styles_skipping_entries_without_a_valid_uuid(data):
    styles = parse_styles(data)

    assert [(s.id, s.name) for s in styles] == [(GENERAL, "General"), (GIANT_PEOPLE, "Giant People")]
    assert styles[0].description == "Balanced"
    assert styles[0].preview_url == "https://cdn/g.png"
    assert styles[1].description == ""


def test_it_refuses_a_styles_answer_that_is_not_a_list():
    with pytest.raises(ProtocolError):
        parse_styles("General")


# --- 2. Error classification over real HTTP -----------------------------------------

VALIDATION_DETAIL = [
    {"loc": ["body", "seed"], "msg": "ensure this value is less than or equal to 1000000", "type": "x"},
    {"loc": ["body", "quality"], "msg": "unexpected value; permitted: '720p', '1080p'", "type": "y"},
]

ERROR_TABLE = [
    pytest.param(400, {}, {"error": "Invalid request parameters"}, BadRequest, False, None, id="400-invalid"),
    pytest.param(
        400,
        {},
        {"detail": "Maximum number of concurrent requests (4) has been reached"},
        ConcurrencyLimited,
        True,
        None,
        id="400-concurrency",
    ),
    pytest.param(422, {}, {"detail": VALIDATION_DETAIL}, BadRequest, False, None, id="422-validation"),
    pytest.param(401, {}, {"error": "Invalid key"}, Unauthorized, False, None, id="401"),
    pytest.param(402, {}, {"error": "Insufficient credits"}, AccessDenied, False, None, id="402"),
    pytest.param(403, {}, "error code: 1010", AccessDenied, False, None, id="403"),
    pytest.param(404, {}, {"error": "Job set not found"}, NotFound, True, None, id="404"),
    pytest.param(423, {}, {"detail": "Model is blocked"}, Unavailable, True, None, id="423"),
    pytest.param(503, {}, {"message": "Service unavailable"}, Unavailable, True, None, id="503"),
    pytest.param(
        429, {"Retry-After": "12"}, {"error": "Too many requests"}, RateLimited, True, 12.0, id="429-header"
    ),
    pytest.param(
        429,
        {},
        {"statusCode": 429, "message": "Rate limit is exceeded. Try again in 7 seconds."},
        RateLimited,
        True,
        7.0,
        id="429-apim-body",
    ),
    pytest.param(500, {}, {"error": "An unexpected error occurred"}, ServerError, True, None, id="500"),
    pytest.param(502, {}, "<html>Bad Gateway</html>", ServerError, True, None, id="502-html"),
]


@pytest.mark.parametrize(("status", "headers", "body", "kind", "retryable", "wait"), ERROR_TABLE)
def test_it_classifies_each_error_status_as_the_table_says(
    recorder, client, status, headers, body, kind, retryable, wait
):
    recorder.respond(status, body, headers)

    with pytest.raises(kind) as caught:
        client.poll(JOB_SET_ID)

    error = caught.value
    assert type(error) is kind
    assert error.status == status
    assert error.retryable is retryable
    assert error.retry_after == wait
    assert error.message


def test_it_names_the_field_in_a_fastapi_validation_error(recorder, client):
    recorder.respond(422, {"detail": VALIDATION_DETAIL})

    with pytest.raises(BadRequest) as caught:
        client.poll(JOB_SET_ID)

    assert caught.value.message == (
        "seed: ensure this value is less than or equal to 1000000; "
        "quality: unexpected value; permitted: '720p', '1080p'"
    )


@pytest.mark.parametrize(
    "body",
    [
        {"error": "Invalid request parameters"},
        {"detail": "Invalid request parameters"},
        {"statusCode": 400, "message": "Invalid request parameters"},
    ],
    ids=["pixazo-error", "higgsfield-detail", "apim-message"],
)
def test_it_reads_the_message_from_each_body_shape(recorder, client, body):
    recorder.respond(400, body)

    with pytest.raises(BadRequest) as caught:
        client.poll(JOB_SET_ID)

    assert caught.value.message == "Invalid request parameters"
    assert str(caught.value) == "Invalid request parameters"


def test_it_falls_back_to_the_status_line_when_the_body_says_nothing(recorder, client):
    recorder.respond(500, "<html><body>oops</body></html>", {"Content-Type": "text/html"})

    with pytest.raises(ServerError) as caught:
        client.poll(JOB_SET_ID)

    assert caught.value.message == "HTTP 500 Internal Server Error"


def test_it_prefers_the_retry_after_header_over_the_message(recorder, client):
    recorder.respond(429, {"message": "Try again in 7 seconds."}, {"Retry-After": "3"})

    with pytest.raises(RateLimited) as caught:
        client.poll(JOB_SET_ID)

    assert caught.value.retry_after == 3.0


def test_it_reads_a_retry_after_date(recorder, client):
    when = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    recorder.respond(429, {"error": "slow down"}, {"Retry-After": when})

    with pytest.raises(RateLimited) as caught:
        client.poll(JOB_SET_ID)

    assert 25 <= caught.value.retry_after <= 31


def test_it_ignores_a_retry_after_header_it_cannot_read(recorder, client):
    recorder.respond(429, {"error": "slow down"}, {"Retry-After": "soon"})

    with pytest.raises(RateLimited) as caught:
        client.poll(JOB_SET_ID)

    assert caught.value.retry_after is None


@pytest.mark.parametrize("body", ["<html>hello</html>", "", "{not json"], ids=["html", "empty", "broken"])
def test_it_calls_a_200_without_json_a_protocol_error(recorder, client, body):
    recorder.respond(200, body, {"Content-Type": "text/html"})

    with pytest.raises(ProtocolError) as caught:
        client.poll(JOB_SET_ID)

    assert caught.value.retryable


def test_it_calls_a_200_with_json_of_the_wrong_shape_a_protocol_error(recorder, client):
    recorder.respond(200, ["not", "an", "object"])

    with pytest.raises(ProtocolError):
        client.poll(JOB_SET_ID)


# --- 3. Transport failures -----------------------------------------------------------


@pytest.fixture
def dead_port() -> Iterator[int]:
    """A port bound but not listening: connections to it are refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


def test_it_calls_a_refused_connection_gateway_unreachable(dead_port):
    client = make_client(f"http://127.0.0.1:{dead_port}")

    with pytest.raises(GatewayUnreachable) as caught:
        client.submit(PAYLOAD, str(uuid.uuid4()))

    assert caught.value.retryable
    assert not isinstance(caught.value, NoResponse)


def test_it_calls_a_server_that_never_answers_no_response(recorder, client):
    recorder.respond(mode="hang")

    started = time.monotonic()
    with pytest.raises(NoResponse) as caught:
        client.submit(PAYLOAD, str(uuid.uuid4()))

    assert time.monotonic() - started < 3
    assert "0.5 s" in caught.value.message
    assert recorder.last.path == SUBMIT_PATH  # it reached the server: it may have been accepted


def test_it_calls_a_connection_closed_without_an_answer_no_response(recorder, client):
    recorder.respond(mode="close")

    with pytest.raises(NoResponse) as caught:
        client.submit(PAYLOAD, str(uuid.uuid4()))

    assert not isinstance(caught.value, GatewayUnreachable)
    assert recorder.last.json() == PAYLOAD


def test_it_calls_an_answer_cut_short_no_response(recorder, client):
    # Upstream accepted the submit and began answering: resending could charge twice.
    recorder.respond(200, b'{"job_set_id": "62d1', {"Content-Length": "500"}, hang_up=True)

    with pytest.raises(NoResponse):
        client.submit(PAYLOAD, str(uuid.uuid4()))


# --- 4. Headers and body on the wire -------------------------------------------------


@pytest.fixture
def gateway_client(settings, recorder) -> Iterator[SoulClient]:
    """The process-wide client, pointed at the recording server."""
    settings.SOUL_API_BASE_URL = recorder.url
    settings.SOUL_API_KEY = KEY
    soul.reset_client()
    yield soul.get_client()
    soul.reset_client()


def test_it_sends_the_documented_headers_on_a_submit(recorder, gateway_client):
    recorder.respond(200, SUBMIT_SAMPLE)
    idempotency_key = str(uuid.uuid4())

    gateway_client.submit(PAYLOAD, idempotency_key)

    sent = recorder.last
    assert (sent.method, sent.path) == ("POST", SUBMIT_PATH)
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["cache-control"] == "no-cache"
    assert sent.headers["ocp-apim-subscription-key"] == KEY
    assert sent.headers["user-agent"].startswith("soulsite/")
    assert "python-requests/" in sent.headers["user-agent"]
    assert sent.headers["idempotency-key"] == idempotency_key


def test_it_sends_exactly_the_payload_with_style_id(recorder, client):
    recorder.respond(200, SUBMIT_SAMPLE)

    result = client.submit(dict(PAYLOAD), str(uuid.uuid4()))

    sent = recorder.last.json()
    assert sent == PAYLOAD
    assert sent["style_id"] == GIANT_PEOPLE
    assert "soul_style_id" not in sent
    assert b"soul_style_id" not in recorder.last.body
    assert result.id == JOB_SET_ID
    assert result.jobs[0].status == "queued"


def test_it_polls_with_the_job_set_id_in_the_body(recorder, client):
    recorder.respond(200, POLL_SAMPLE)

    result = client.poll(JOB_SET_ID)

    sent = recorder.last
    assert (sent.method, sent.path) == ("POST", POLL_PATH)
    assert sent.json() == {"job_set_id": JOB_SET_ID}
    assert sent.headers["ocp-apim-subscription-key"] == KEY
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["cache-control"] == "no-cache"
    assert "idempotency-key" not in sent.headers
    assert result.finished


def test_it_asks_for_styles_on_the_configured_path(recorder):
    recorder.respond(200, {"styles": STYLE_ENTRIES})
    client = make_client(recorder.url, styles_path="/somewhere/styles")

    styles = client.styles()

    assert (recorder.last.method, recorder.last.path) == ("GET", "/somewhere/styles")
    assert recorder.last.headers["ocp-apim-subscription-key"] == KEY
    assert [s.name for s in styles] == ["General", "Giant People"]


def test_it_downloads_a_result_without_the_subscription_key(recorder, client):
    image = bytes(range(256)) * 300
    recorder.respond(200, image, {"Content-Type": "image/png"})
    out = io.BytesIO()

    written = client.download(recorder.url + "/results/abc/raw.png", out, max_bytes=len(image))

    assert written == len(image)
    assert out.getvalue() == image
    sent = recorder.last
    assert (sent.method, sent.path) == ("GET", "/results/abc/raw.png")
    assert "ocp-apim-subscription-key" not in sent.headers
    assert KEY not in json.dumps(sent.headers)


def test_it_downloads_a_chunked_result(recorder, client):
    image = b"\x89PNG\r\n\x1a\n" + b"x" * 50_000
    recorder.respond(200, image, {"Content-Type": "image/png"}, chunked=True)
    out = io.BytesIO()

    assert client.download(recorder.url + "/r.png", out, max_bytes=60_000) == len(image)
    assert out.getvalue() == image


def test_it_refuses_a_result_whose_declared_size_is_over_the_cap(recorder, client):
    recorder.respond(200, b"x" * 5000, {"Content-Type": "image/png"})
    out = io.BytesIO()

    with pytest.raises(ResultTooLarge):
        client.download(recorder.url + "/r.png", out, max_bytes=4999)

    assert out.getvalue() == b""


def test_it_stops_a_chunked_result_that_grows_over_the_cap(recorder, client):
    recorder.respond(200, b"x" * 300_000, {"Content-Type": "image/png"}, chunked=True)
    out = io.BytesIO()

    with pytest.raises(ResultTooLarge):
        client.download(recorder.url + "/r.png", out, max_bytes=100_000)

    assert len(out.getvalue()) <= 100_000


def test_it_follows_a_cdn_redirect_for_a_result_still_without_the_key(recorder, client):
    cdn = Recorder().start()
    try:
        cdn.respond(200, b"image bytes", {"Content-Type": "image/png"})
        recorder.respond(302, b"", {"Location": cdn.url + "/signed/raw.png"})
        out = io.BytesIO()

        assert client.download(recorder.url + "/results/abc/raw.png", out, max_bytes=1000) == 11

        assert out.getvalue() == b"image bytes"
        assert cdn.last.path == "/signed/raw.png"
        assert "ocp-apim-subscription-key" not in cdn.last.headers
    finally:
        cdn.stop()


def test_it_calls_a_result_cut_short_a_retryable_soul_error(recorder, client):
    recorder.respond(200, b"\x89PNG partial", {"Content-Length": "5000"}, hang_up=True)

    with pytest.raises(NoResponse) as caught:
        client.download(recorder.url + "/r.png", io.BytesIO(), max_bytes=10_000)

    assert caught.value.retryable


def test_it_reports_a_missing_result_as_not_found(recorder, client):
    recorder.respond(404, {"error": "Result not found"})

    with pytest.raises(NotFound):
        client.download(recorder.url + "/r.png", io.BytesIO(), max_bytes=1000)


# --- 5. Secrecy ----------------------------------------------------------------------


def test_it_keeps_the_key_out_of_the_clients_repr(recorder, client):
    assert KEY not in repr(client)
    assert KEY not in str(client)
    assert recorder.url in repr(client)


def test_it_keeps_the_key_out_of_logs_at_debug_level(recorder, client, caplog):
    for name in (None, "urllib3", soul.__name__):  # settings.LOGGING quiets urllib3
        caplog.set_level(logging.DEBUG, logger=name)

    recorder.respond(200, SUBMIT_SAMPLE)
    client.submit(PAYLOAD, str(uuid.uuid4()))
    recorder.respond(200, POLL_SAMPLE)
    client.poll(JOB_SET_ID)
    recorder.respond(401, {"error": "Invalid or missing authentication"})
    with pytest.raises(Unauthorized):
        client.poll(JOB_SET_ID)

    assert recorder.last.headers["ocp-apim-subscription-key"] == KEY  # it was really sent
    assert caplog.records, "nothing was logged: the check below would prove nothing"
    for record in caplog.records:
        assert KEY not in record.getMessage()
        assert KEY not in repr(record.args)
    assert KEY not in caplog.text


SECRECY_FAILURES = [
    pytest.param(Answer(401, body={"error": "Invalid key"}), id="401"),
    pytest.param(Answer(400, body={"error": "Invalid request parameters"}), id="400"),
    pytest.param(Answer(429, body={"message": "Try again in 7 seconds."}), id="429"),
    pytest.param(Answer(500, body="boom"), id="500"),
    pytest.param(Answer(200, body="not json"), id="200-not-json"),
    pytest.param(Answer(mode="hang"), id="no-answer"),
    pytest.param(Answer(mode="close"), id="hung-up"),
]


@pytest.mark.parametrize("answer", SECRECY_FAILURES)
def test_it_keeps_the_key_out_of_every_error(recorder, client, answer):
    recorder.answer = answer

    with pytest.raises(soul.SoulError) as caught:
        client.submit(PAYLOAD, str(uuid.uuid4()))

    assert KEY not in everything_said(caught.value)


def test_it_keeps_the_key_out_of_an_unreachable_error(dead_port):
    client = make_client(f"http://127.0.0.1:{dead_port}")

    with pytest.raises(GatewayUnreachable) as caught:
        client.poll(JOB_SET_ID)

    assert KEY not in everything_said(caught.value)


def test_it_does_not_follow_a_redirect_with_the_key(recorder):
    elsewhere = Recorder().start()
    try:
        elsewhere.respond(200, SUBMIT_SAMPLE)
        recorder.respond(307, b"", {"Location": elsewhere.url + SUBMIT_PATH})
        client = make_client(recorder.url)

        with pytest.raises(ProtocolError):  # not understood; for a submit: unconfirmed
            client.submit(PAYLOAD, str(uuid.uuid4()))

        assert recorder.last.headers["ocp-apim-subscription-key"] == KEY
        assert elsewhere.requests == []
    finally:
        elsewhere.stop()


# --- 6. Local validation -------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field_name"),
    [
        ({"prompt": "  "}, "prompt"),
        ({"prompt": "a" * 2001}, "prompt"),  # over soulwire.params.PROMPT_MAX_LENGTH: never sent
        ({"width_and_height": "1024x1024"}, "width_and_height"),
        ({"seed": 0}, "seed"),
        ({"quality": "4k"}, "quality"),
        ({"style_id": "general"}, "style_id"),
        ({"batch_size": 2}, "batch_size"),
    ],
)
def test_it_refuses_invalid_params_without_sending_anything(recorder, client, change, field_name):
    with pytest.raises(InvalidParams) as caught:
        client.submit({**PAYLOAD, **change}, str(uuid.uuid4()))

    assert field_name in caught.value.errors
    assert field_name in caught.value.message
    assert not caught.value.retryable
    assert recorder.requests == []


# --- 7. Against the sandbox ----------------------------------------------------------


def test_it_submits_and_polls_the_sandbox_until_finished(sandbox):
    client = soul.get_client()  # pointed at the session sandbox by the soul_settings fixture
    assert client.base_url == sandbox.url

    submitted = client.submit({**PAYLOAD, "batch_size": 4}, str(uuid.uuid4()))
    assert len(submitted.jobs) == 4
    assert {j.status for j in submitted.jobs} == {"queued"}
    assert not submitted.finished

    deadline = time.monotonic() + 8
    result = client.poll(submitted.id)
    while not result.finished:
        assert time.monotonic() < deadline, f"still not finished: {result}"
        time.sleep(0.1)
        result = client.poll(submitted.id)

    assert result.id == submitted.id
    assert [j.id for j in result.jobs] == [j.id for j in submitted.jobs]
    for finished_job in result.jobs:
        assert finished_job.status == "completed"
        assert finished_job.raw_url.startswith(sandbox.url) and finished_job.raw_url.endswith("/raw.png")
        assert finished_job.min_url.startswith(sandbox.url) and finished_job.min_url.endswith("/min.png")
    assert result.input_params["style_id"] == GIANT_PEOPLE

    out = io.BytesIO()
    assert client.download(result.jobs[0].min_url, out, max_bytes=5_000_000) > 0
    assert out.getvalue().startswith(b"\x89PNG\r\n\x1a\n")


def test_it_gets_not_found_for_an_unknown_job_set_from_the_sandbox(sandbox):
    with pytest.raises(NotFound) as caught:
        soul.get_client().poll(str(uuid.uuid4()))

    assert caught.value.status == 404
    assert caught.value.message == "Job set not found"


def test_it_gets_unauthorized_with_a_wrong_key_from_the_sandbox():
    guarded = SandboxServer(SandboxConfig(api_key="right")).start()
    wrong_key = "wrong-" + uuid.uuid4().hex
    try:
        with pytest.raises(Unauthorized) as caught:
            make_client(guarded.url, key=wrong_key).submit(PAYLOAD, str(uuid.uuid4()))
        assert caught.value.status == 401
        assert wrong_key not in everything_said(caught.value)
        assert make_client(guarded.url, key="right").submit(PAYLOAD, str(uuid.uuid4())).jobs
    finally:
        guarded.stop()
