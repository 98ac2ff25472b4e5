"""The sandbox refuses what the gateway refuses at its edges (too long a prompt, too large a body)
and stops on SIGTERM within seconds, even with a request half way through.

No database: the sandbox runs as a program of its own (``python -m soulsandbox``) or in-process.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from urllib.parse import urlsplit

import pytest
import requests

from generations.management.children import Child
from soulsandbox import SandboxConfig, SandboxServer, render
from soulwire import params
from soulwire.contract import KEY_HEADER, SUBMIT_PATH

KEY = "sandbox-limits-key"
SIZE = "1536x2048"


@pytest.fixture(scope="module")
def sandbox():
    server = SandboxServer(SandboxConfig(api_key=KEY, queue_seconds=0.1, complete_seconds=0.3)).start()
    yield server
    server.stop()


def submit(url: str, payload: dict | None = None, data: bytes | None = None, timeout: float = 10):
    return requests.post(
        url + SUBMIT_PATH,
        json=payload,
        data=data,
        headers={KEY_HEADER: KEY, "Content-Type": "application/json"},
        timeout=timeout,
    )


def test_a_prompt_one_character_over_the_limit_is_a_400_with_the_limit_and_nothing_is_made(sandbox):
    before = sandbox.stats()["submits_accepted"]
    refused = submit(sandbox.url, {"prompt": "a" * (params.PROMPT_MAX_LENGTH + 1), "width_and_height": SIZE})
    assert refused.status_code == 400
    assert "prompt must be at most 2,000 characters (this one has 2,001)" in refused.json()["error"]
    assert sandbox.stats()["submits_accepted"] == before
    accepted = submit(sandbox.url, {"prompt": "a" * params.PROMPT_MAX_LENGTH, "width_and_height": SIZE})
    assert accepted.status_code == 200


def test_a_million_character_prompt_is_refused_at_once(sandbox):
    started = time.monotonic()
    refused = submit(sandbox.url, {"prompt": "a" * 1_000_000, "width_and_height": SIZE})
    assert refused.status_code == 400 and "prompt must be at most" in refused.json()["error"]
    assert time.monotonic() - started < 3


def test_a_body_over_the_gateways_limit_is_answered_413_in_the_gateways_shape(sandbox):
    body = b'{"prompt": "' + b"a" * (2 << 20) + b'", "width_and_height": "1536x2048"}'
    refused = submit(sandbox.url, data=body)
    assert refused.status_code == 413
    assert refused.json() == {"error": "Request Entity Too Large"}


def test_drawing_a_prompt_of_one_long_word_takes_a_fraction_of_a_second():
    # Cutting the word one character at a time measured it once per character: minutes for 10,000.
    started = time.monotonic()
    render.render_png("w" * 10_000, 7, 0, 1536, 2048)
    assert time.monotonic() - started < 3


def start_sandbox(tmp_path, *options: str) -> tuple[Child, str]:
    command = [sys.executable, "-m", "soulsandbox", "--port", "0", "--key", KEY, *options]
    child = Child(command, log_path=tmp_path / "sandbox.log", name="sandbox", grace=1).start()
    url = child.wait_for_log(r"listening on (http://\S+) ", timeout=30).group(1)
    return child, url


def half_a_request(url: str) -> socket.socket:
    """A client that sends the headers and half the body of a submit, then says nothing more."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=5)
    sock.sendall(
        f"POST {SUBMIT_PATH} HTTP/1.1\r\nHost: {parts.netloc}\r\n{KEY_HEADER}: {KEY}\r\n"
        "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n".encode()
        + b'{"prompt": "half'
    )
    return sock


def test_sigterm_stops_the_sandbox_within_seconds_while_requests_are_in_progress(tmp_path):
    # Every answer is held 60 s (the "slow" fault), a client is half way through sending a request,
    # and a prompt of one word as long as allowed is being drawn: SIGTERM still ends it at once.
    options = ("--slow-rate", "1", "--slow-seconds", "60", "--complete-seconds", "0.1")
    child, url = start_sandbox(tmp_path, *options)
    held = []
    try:
        long_word = {"prompt": "w" * params.PROMPT_MAX_LENGTH, "width_and_height": SIZE}
        slow = threading.Thread(target=lambda: held.append(_quietly(submit, url, long_word, timeout=90)))
        slow.start()
        sock = half_a_request(url)
        time.sleep(1.0)  # the submit is answered slowly and its images are being drawn
        assert child.running()
        started = time.monotonic()
        child.terminate()
        assert child.wait(5), f"still running 5 s after SIGTERM:\n{child.log_text()[-2000:]}"
        assert time.monotonic() - started < 5
        assert "Soul sandbox stopped." in child.log_text()
        sock.close()
        slow.join(10)
    finally:
        child.stop(grace=1)


def test_sigterm_stops_the_sandbox_within_seconds_after_overlong_prompts(tmp_path):
    # Before the limit, a long prompt was accepted and drawn for minutes, and the process, waiting
    # for that drawing, ignored SIGTERM.
    child, url = start_sandbox(tmp_path)
    try:
        for prompt in ("a" * 1_000_000, "w" * 20_000):
            refused = submit(url, {"prompt": prompt, "width_and_height": SIZE})
            assert refused.status_code == 400 and "prompt must be at most" in refused.json()["error"]
        time.sleep(0.5)
        child.terminate()
        assert child.wait(5), f"still running 5 s after SIGTERM:\n{child.log_text()[-2000:]}"
    finally:
        child.stop(grace=1)


def test_a_client_that_stops_sending_is_cut_off_and_does_not_hold_the_sandbox(tmp_path, monkeypatch):
    from soulsandbox import server as server_module

    monkeypatch.setattr(server_module._RequestHandler, "timeout", 0.5)
    sandbox = SandboxServer(SandboxConfig(api_key=KEY)).start()
    try:
        sock = half_a_request(sandbox.url)
        sock.settimeout(5)
        started = time.monotonic()
        assert sock.recv(1024) == b""  # closed by the sandbox, with nothing written
        assert time.monotonic() - started < 3
        sock.close()
        assert submit(sandbox.url, {"prompt": "still here", "width_and_height": SIZE}).status_code == 200
    finally:
        sandbox.stop()


def _quietly(call, *args, **kwargs):
    try:
        return call(*args, **kwargs)
    except requests.RequestException as exc:
        return exc
