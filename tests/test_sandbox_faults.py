"""The sandbox's fault switches and webhook delivery, over real sockets.

No database. Each fault is exercised at rate 1.0 (or with a seed) so the outcome is exact.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from generations.management.children import Child
from soulsandbox import SandboxConfig, SandboxServer
from soulsandbox.app import FAULTS_PATH, make_app
from soulsandbox.config import FAULT_FIELDS, RUNTIME_FIELDS
from soulsandbox.jobsets import never_finishes
from soulsandbox.responses import format_seconds
from soulwire.contract import KEY_HEADER, POLL_PATH, STYLES_PATH, SUBMIT_PATH
from tests.servers import closed_port_url

KEY = "fault-test-key-9a2e"
HEADERS = {KEY_HEADER: KEY}
ROOT = Path(__file__).resolve().parent.parent
DEFAULTS = SandboxConfig(queue_seconds=0.05, complete_seconds=0.2).settings()


@pytest.fixture(scope="module")
def gateway():
    server = SandboxServer(SandboxConfig(api_key=KEY, queue_seconds=0.05, complete_seconds=0.2)).start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def clean(gateway):
    """Every test starts with no faults, the fast timing and no job sets."""
    assert requests.post(gateway.url + FAULTS_PATH, json=DEFAULTS, timeout=5).status_code == 200
    assert requests.post(gateway.url + "/_sandbox/reset", timeout=5).status_code == 200


def body(**overrides) -> dict:
    return {"prompt": "a lighthouse at dusk", "width_and_height": "1696x960", **overrides}


def submit(gateway, payload: dict | None = None, timeout: float | tuple = 5, **headers) -> requests.Response:
    return requests.post(
        gateway.url + SUBMIT_PATH, json=payload or body(), headers={**HEADERS, **headers}, timeout=timeout
    )


def poll(gateway, job_set_id: str, timeout: float | tuple = 5) -> requests.Response:
    return requests.post(
        gateway.url + POLL_PATH, json={"job_set_id": job_set_id}, headers=HEADERS, timeout=timeout
    )


def faults(gateway, **changes) -> dict:
    response = requests.post(gateway.url + FAULTS_PATH, json=changes, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()


def stats(gateway) -> dict:
    return requests.get(gateway.url + "/_sandbox/stats", timeout=5).json()


def eventually(check: Callable[[], bool], deadline: float = 3.0) -> None:
    end = time.monotonic() + deadline
    while not check():
        assert time.monotonic() < end, "condition not met in time"
        time.sleep(0.01)


# Faults answered without processing


@pytest.mark.parametrize(
    ("setting", "status", "message"),
    [
        ("error_rate", 500, "An unexpected error occurred, please try again later"),
        ("rate_limit_rate", 429, "Rate limit exceeded, please retry later"),
        ("unavailable_rate", 503, "Model is temporarily unavailable"),
    ],
)
def test_rejecting_faults_answer_exactly_and_create_nothing(gateway, setting, status, message):
    existing = submit(gateway).json()["job_set_id"]
    faults(gateway, **{setting: 1.0})

    for response in (submit(gateway), poll(gateway, existing)):
        assert response.status_code == status
        assert response.headers["Content-Type"] == "application/json"
        assert response.json() == {"error": message}
        if status == 429:
            assert response.headers["Retry-After"] == "1"
        else:
            assert "Retry-After" not in response.headers

    counted = stats(gateway)
    assert (counted["job_sets"], counted["submits_accepted"], counted["submits_rejected"]) == (1, 1, 0)
    assert counted["faults"][str(status)] == 2
    assert counted["polls"] == 1  # counted, though not processed


def test_retry_after_is_whole_seconds_when_whole(gateway):
    for value, header in ((3.0, "3"), (2.5, "2.5"), (0, "0")):
        faults(gateway, rate_limit_rate=1.0, retry_after=value)
        assert submit(gateway).headers["Retry-After"] == header
    assert format_seconds(12.0) == "12"


def test_faults_come_after_the_key_and_before_validation(gateway):
    faults(gateway, error_rate=1.0)
    assert submit(gateway, **{KEY_HEADER: "wrong"}).status_code == 401
    assert submit(gateway, body(seed=0)).status_code == 500  # invalid, but the fault answers first
    faults(gateway, error_rate=0.0)
    assert submit(gateway, body(seed=0)).status_code == 400
    assert stats(gateway)["faults"]["500"] == 1


def test_faults_never_touch_styles_results_stats_or_control_endpoints(gateway):
    done = submit(gateway).json()
    time.sleep(0.25)
    data = poll(gateway, done["job_set_id"]).json()
    faults(gateway, error_rate=1.0, drop_rate=1.0, slow_rate=1.0, slow_seconds=10)
    assert requests.get(gateway.url + STYLES_PATH, headers=HEADERS, timeout=2).status_code == 200
    assert requests.get(data["jobs"][0]["results"]["min"]["url"], timeout=2).status_code == 200
    assert requests.get(gateway.url + "/_sandbox/stats", timeout=2).status_code == 200
    assert requests.get(gateway.url + FAULTS_PATH, timeout=2).status_code == 200
    assert requests.post(gateway.url + "/_sandbox/reset", timeout=2).status_code == 200


# Faults after processing


def test_a_slow_answer_times_out_the_client_although_the_submit_was_accepted(gateway):
    faults(gateway, slow_rate=1.0, slow_seconds=1.0)
    with pytest.raises(requests.ReadTimeout):
        submit(gateway, timeout=(2, 0.3))
    counted = stats(gateway)
    assert (counted["submits_accepted"], counted["job_sets"], counted["faults"]["slow"]) == (1, 1, 1)

    faults(gateway, slow_seconds=0.3)
    started = time.monotonic()
    response = submit(gateway)
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.3


def test_a_drop_closes_the_connection_unanswered_after_processing(gateway):
    faults(gateway, drop_rate=1.0)
    with pytest.raises(requests.ConnectionError) as caught:
        submit(gateway)
    assert type(caught.value) is requests.ConnectionError
    assert "RemoteDisconnected" in repr(caught.value) or "aborted" in str(caught.value)
    counted = stats(gateway)
    assert (counted["submits_accepted"], counted["job_sets"], counted["faults"]["drop"]) == (1, 1, 1)

    # The bare HTTP client sees the server close without a status line.
    host, port = gateway.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    payload = json.dumps({"job_set_id": "00000000-0000-4000-8000-000000000000"})
    connection.request(
        "POST", POLL_PATH, body=payload, headers={**HEADERS, "Content-Type": "application/json"}
    )
    with pytest.raises(http.client.RemoteDisconnected):
        connection.getresponse()
    connection.close()
    assert stats(gateway)["faults"]["drop"] == 2


def test_concurrency_cap_answers_400_with_higgsfields_detail(gateway):
    faults(gateway, max_in_flight=2, complete_seconds=0.4)
    first = submit(gateway, **{"Idempotency-Key": "k-1"})
    assert submit(gateway).status_code == 200
    busy = submit(gateway)
    assert busy.status_code == 400
    assert busy.json() == {"detail": "Maximum number of concurrent requests (2) has been reached"}
    # A retried request with a known idempotency key gets its first answer, even at the cap.
    replay = submit(gateway, **{"Idempotency-Key": "k-1"})
    assert replay.status_code == 200 and replay.json() == first.json()
    counted = stats(gateway)
    assert (counted["job_sets"], counted["faults"]["concurrency"], counted["max_in_flight_seen"]) == (2, 1, 2)
    assert counted["in_flight"] == 2

    time.sleep(0.45)  # both finish: room again
    assert submit(gateway).status_code == 200
    assert stats(gateway)["in_flight"] == 1


def test_max_in_flight_seen_is_tracked_without_a_cap(gateway):
    faults(gateway, complete_seconds=5)
    for _ in range(3):
        submit(gateway)
    assert stats(gateway)["max_in_flight_seen"] == 3


def test_a_never_finishing_job_set_counts_against_the_cap_for_ever(gateway):
    faults(gateway, max_in_flight=1, complete_seconds=0.05)
    submit(gateway, body(prompt="wait FOREVER and a day"))
    time.sleep(0.1)
    response = submit(gateway)
    assert response.status_code == 400
    assert "concurrent" in response.json()["detail"]


# Job sets that never finish, polls that 404 first


def test_forever_prompt_and_never_finish_rate_stay_in_progress(gateway):
    forever = submit(gateway, body(prompt="Forever young", batch_size=4)).json()["job_set_id"]
    faults(gateway, never_finish_rate=1.0)
    random_one = submit(gateway).json()["job_set_id"]
    faults(gateway, never_finish_rate=0.0)
    normal = submit(gateway).json()["job_set_id"]
    time.sleep(0.3)
    for job_set_id in (forever, random_one):
        assert {job["status"] for job in poll(gateway, job_set_id).json()["jobs"]} == {"in_progress"}
    assert poll(gateway, normal).json()["jobs"][0]["status"] == "completed"
    counted = stats(gateway)
    assert len(counted["completed_at"]) == 1
    assert counted["in_flight"] == 2
    assert never_finishes("forever") and never_finishes("FOREVER!")
    assert not never_finishes("forevermore") and not never_finishes("for ever")


def test_poll_not_found_first(gateway):
    faults(gateway, poll_not_found_first=2)
    first = submit(gateway).json()["job_set_id"]
    second = submit(gateway).json()["job_set_id"]
    for _ in range(2):
        response = poll(gateway, first)
        assert response.status_code == 404
        assert response.json() == {"error": "Job set not found"}
    assert poll(gateway, first).status_code == 200
    assert poll(gateway, second).status_code == 404  # each job set has its own count
    assert stats(gateway)["faults"]["poll_404"] == 3


# Run-time control and reproducibility


def test_faults_endpoint_shows_and_changes_settings(gateway):
    shown = requests.get(gateway.url + FAULTS_PATH, timeout=5).json()
    assert shown == DEFAULTS
    assert set(shown) == set(RUNTIME_FIELDS) and set(FAULT_FIELDS) <= set(shown)
    assert shown["max_in_flight"] is None and shown["retry_after"] == 1.0

    changed = faults(gateway, error_rate=0.25, max_in_flight=3, complete_seconds="1-2", webhook_reorder=True)
    assert (changed["error_rate"], changed["max_in_flight"], changed["complete_seconds"]) == (0.25, 3, "1-2")
    assert changed["webhook_reorder"] is True
    assert requests.get(gateway.url + FAULTS_PATH, timeout=5).json() == changed

    # A reset clears state, not configuration.
    requests.post(gateway.url + "/_sandbox/reset", timeout=5)
    assert requests.get(gateway.url + FAULTS_PATH, timeout=5).json() == changed


@pytest.mark.parametrize(
    "bad",
    [
        {"error_rate": 1.5},
        {"error_rate": -0.1},
        {"error_rate": "0.5"},
        {"drop_rate": True},
        {"max_in_flight": -1},
        {"max_in_flight": 2.5},
        {"slow_seconds": -1},
        {"poll_not_found_first": None},
        {"complete_seconds": "soon"},
        {"queue_seconds": -1},
        {"webhook_reorder": "yes"},
        {"webhook_target": "ftp://example.com/hook"},
        {"no_such_setting": 1},
        {"error_rate": 0.5, "typo_rate": 1},  # all or nothing
    ],
)
def test_faults_endpoint_refuses_bad_values_and_changes_nothing(gateway, bad):
    response = requests.post(gateway.url + FAULTS_PATH, json=bad, timeout=5)
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error"]
    assert requests.get(gateway.url + FAULTS_PATH, timeout=5).json() == DEFAULTS


def test_faults_endpoint_needs_a_json_object(gateway):
    for raw in (b"[1]", b"nope"):
        response = requests.post(gateway.url + FAULTS_PATH, data=raw, timeout=5)
        assert response.status_code == 400 and response.json()["error"]
    assert requests.delete(gateway.url + FAULTS_PATH, timeout=5).status_code == 405


def _outcomes(gateway, count: int) -> list[object]:
    seen: list[object] = []
    for _ in range(count):
        try:
            seen.append(submit(gateway).status_code)
        except requests.ConnectionError:
            seen.append("drop")
    return seen


def test_a_fault_seed_makes_the_outcomes_reproducible(gateway):
    mix = {"error_rate": 0.2, "rate_limit_rate": 0.2, "unavailable_rate": 0.2, "drop_rate": 0.2}
    faults(gateway, fault_seed=1234, **mix)
    first = _outcomes(gateway, 30)
    assert set(first) == {200, 500, 429, 503, "drop"}
    requests.post(gateway.url + "/_sandbox/reset", timeout=5)  # reseeds
    assert _outcomes(gateway, 30) == first
    faults(gateway, fault_seed=1234)  # setting the seed reseeds too
    assert _outcomes(gateway, 30) == first
    faults(gateway, fault_seed=99)
    assert _outcomes(gateway, 30) != first


def test_the_same_seed_rolls_the_same_in_process():
    def rolls(seed: int) -> list:
        _, state = make_app(
            SandboxConfig(fault_seed=seed, error_rate=0.3, slow_rate=0.3, never_finish_rate=0.5)
        )
        return [state.roll() for _ in range(50)]

    assert rolls(5) == rolls(5)
    assert rolls(5) != rolls(6)


def test_server_helpers_read_stats_and_configure_in_process(gateway):
    assert gateway.configure(error_rate=1.0)["error_rate"] == 1.0
    assert submit(gateway).status_code == 500
    assert gateway.stats()["faults"]["500"] == 1
    with pytest.raises(ValueError):
        gateway.configure(error_rate=2)


# Webhooks


class Receiver:
    """A small HTTP server recording every POST; answers with ``statuses`` in turn, then 200."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                receiver.received.append(
                    {
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "raw": raw,
                        "json": json.loads(raw),
                        "at": time.time(),
                        "status": status,
                    }
                )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def wait(self, count: int, deadline: float = 3.0) -> list[dict]:
        eventually(lambda: len(self.received) >= count, deadline)
        return self.received


@pytest.fixture
def receiver():
    running = Receiver()
    yield running
    running.httpd.shutdown()
    running.httpd.server_close()


def expected_signature(key: bytes, headers: dict, raw: bytes) -> str:
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + raw
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def hooked(receiver, secret: str, path: str = "/hooks/soul/tok-123", **overrides) -> dict:
    return body(webhook_url=receiver.url + path, webhook_secret=secret, **overrides)


def all_sent(gateway) -> bool:
    return stats(gateway)["webhooks_pending"] == 0


@pytest.mark.parametrize("style", ["whsec", "plain"])
def test_webhook_body_is_the_poll_shape_signed_standard_webhooks_style(gateway, receiver, style):
    key = secrets.token_bytes(24)
    secret = "whsec_" + base64.b64encode(key).decode() if style == "whsec" else "plain secret é"
    if style == "plain":
        key = secret.encode()
    submitted = submit(gateway, hooked(receiver, secret, batch_size=4)).json()
    [message] = receiver.wait(1)
    eventually(lambda: all_sent(gateway))

    assert message["path"] == "/hooks/soul/tok-123"
    headers = message["headers"]
    assert headers["content-type"] == "application/json"
    assert headers["webhook-id"].startswith("msg_")
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 5
    assert headers["webhook-signature"] == expected_signature(key, headers, message["raw"])
    assert headers["webhook-signature"] != expected_signature(b"other", headers, message["raw"])

    data = message["json"]
    assert set(data) == {"id", "type", "created_at", "jobs", "input_params"}
    assert data["id"] == submitted["job_set_id"]
    assert data["type"] == "text2image_soul"
    assert [job["status"] for job in data["jobs"]] == ["completed"] * 4
    assert data["jobs"][0]["results"]["raw"]["url"].startswith(gateway.url + "/results/")
    assert data == poll(gateway, submitted["job_set_id"]).json()
    assert secret not in json.dumps(data)
    # Delivered at (not before) the terminal instant.
    assert message["at"] >= stats(gateway)["completed_at"][data["jobs"][0]["id"]]
    assert stats(gateway)["webhooks_sent"] == 1


def test_webhook_duplicates_share_the_webhook_id(gateway, receiver):
    faults(gateway, webhook_duplicates=2)
    submit(gateway, hooked(receiver, "s3cret"))
    messages = receiver.wait(3)
    eventually(lambda: all_sent(gateway))
    assert len(messages) == 3
    assert len({m["headers"]["webhook-id"] for m in messages}) == 1
    assert len({m["raw"] for m in messages}) == 1
    for m in messages:
        assert m["headers"]["webhook-signature"] == expected_signature(b"s3cret", m["headers"], m["raw"])
    assert stats(gateway)["webhooks_sent"] == 3


def test_webhook_reorder_delivers_a_stale_in_progress_message_after_the_final_one(gateway, receiver):
    faults(gateway, webhook_reorder=True)
    job_set_id = submit(gateway, hooked(receiver, "s3cret", batch_size=4)).json()["job_set_id"]
    final, stale = receiver.wait(2)
    eventually(lambda: all_sent(gateway))
    assert final["json"]["id"] == stale["json"]["id"] == job_set_id
    assert {job["status"] for job in final["json"]["jobs"]} == {"completed"}
    assert [(job["status"], job["results"]) for job in stale["json"]["jobs"]] == [("in_progress", None)] * 4
    assert [job["id"] for job in stale["json"]["jobs"]] == [job["id"] for job in final["json"]["jobs"]]
    assert final["headers"]["webhook-id"] != stale["headers"]["webhook-id"]
    assert stale["headers"]["webhook-signature"] == expected_signature(
        b"s3cret", stale["headers"], stale["raw"]
    )
    assert stats(gateway)["webhooks_sent"] == 2


def test_webhook_target_overrides_the_submitted_url_and_delay_postpones(gateway, receiver):
    faults(gateway, webhook_target=receiver.url + "/local/hook", webhook_delay=0.3)
    payload = body(webhook_url="https://soulsite.example.invalid/hooks/x", webhook_secret="s3cret")
    job_id = submit(gateway, payload).json()["jobs"][0]["id"]
    [message] = receiver.wait(1)
    assert message["path"] == "/local/hook"
    assert message["at"] >= stats(gateway)["completed_at"][job_id] + 0.3


def test_a_receiver_that_is_down_does_not_crash_the_sandbox(gateway):
    submit(gateway, body(webhook_url=closed_port_url() + "/hook", webhook_secret="s3cret"))
    eventually(lambda: all_sent(gateway))
    counted = stats(gateway)
    assert (counted["webhooks_sent"], counted["webhooks_failed"]) == (0, 1)
    assert submit(gateway).status_code == 200


def test_a_failed_delivery_is_retried_with_the_same_id(gateway, receiver):
    receiver.statuses = [500]
    submit(gateway, hooked(receiver, "s3cret"))
    first, second = receiver.wait(2)
    eventually(lambda: all_sent(gateway))
    assert (first["status"], second["status"]) == (500, 200)
    assert first["headers"]["webhook-id"] == second["headers"]["webhook-id"]
    assert second["at"] - first["at"] >= 0.15  # a backoff between attempts
    counted = stats(gateway)
    assert (counted["webhooks_sent"], counted["webhooks_failed"]) == (1, 0)


def test_no_webhook_for_a_job_set_that_never_finishes_or_without_a_url(gateway, receiver):
    submit(gateway, hooked(receiver, "s3cret", prompt="spin forever"))
    submit(gateway)
    assert stats(gateway)["webhooks_pending"] == 0
    time.sleep(0.3)
    assert receiver.received == []


def test_stop_and_reset_cancel_pending_webhooks(receiver):
    server = SandboxServer(SandboxConfig(queue_seconds=0, complete_seconds=0.3)).start()
    try:
        for _ in range(2):
            submit(server, hooked(receiver, "s3cret"))
        assert server.stats()["webhooks_pending"] == 2
        requests.post(server.url + "/_sandbox/reset", timeout=5)
        assert server.stats()["webhooks_pending"] == 0
        submit(server, hooked(receiver, "s3cret"))
        assert server.stats()["webhooks_pending"] == 1
    finally:
        server.stop()
    assert server.state.webhook_timers == {}
    time.sleep(0.4)
    assert receiver.received == []


# The command: flags and SOUL_SANDBOX_* variables


@pytest.mark.parametrize(
    "command", [["manage.py", "soul_sandbox"], ["-m", "soulsandbox"]], ids=["manage.py", "python -m"]
)
def test_the_command_reads_flags_and_environment(tmp_path, command):
    env = {
        **os.environ,
        "SOUL_SANDBOX_ERROR_RATE": "0.25",
        "SOUL_SANDBOX_WEBHOOK_REORDER": "1",
        "SOUL_SANDBOX_MAX_IN_FLIGHT": "7",
        "SOUL_SANDBOX_SLOW_RATE": "0.5",
    }
    sandbox = Child(
        [
            sys.executable,
            *command,
            "--port",
            "0",
            "--slow-rate",
            "0.1",
            "--retry-after",
            "4",
            "--webhook-target",
            "http://127.0.0.1:9/hooks/secret-token",
            "--fault-seed",
            "3",
        ],
        cwd=ROOT,
        env=env,
        log_path=tmp_path / "sandbox.log",
        name="the sandbox",
    ).start()
    try:
        line = sandbox.wait_for_log(r"\A.*\n", timeout=60).group(0)  # the first line it writes
        assert "listening on http://" in line, line or sandbox.log_text()
        assert "secret-token" not in line
        url = line.split("listening on ", 1)[1].split(" ", 1)[0]
        shown = requests.get(url + FAULTS_PATH, timeout=5).json()
        assert shown["error_rate"] == 0.25 and shown["max_in_flight"] == 7
        assert shown["slow_rate"] == 0.1  # the flag beats the variable
        assert (shown["retry_after"], shown["fault_seed"], shown["webhook_reorder"]) == (4.0, 3, True)
        assert shown["webhook_target"] == "http://127.0.0.1:9/hooks/secret-token"
    finally:
        sandbox.stop(grace=10)
