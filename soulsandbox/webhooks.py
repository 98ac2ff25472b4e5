"""Webhook delivery: the job set in the poll shape, POSTed and signed the Standard Webhooks way.

When a submit carries ``webhook_url`` and ``webhook_secret``, the sandbox POSTs the job
set there once every job is terminal (:class:`soulsandbox.state.SandboxState` times it),
with ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` headers made by
:mod:`soulwire.signing`, the same code soulsite's receiver checks them with. The
``webhook_*`` settings add duplicates, a late stale message and a delay, or send
everything to another URL.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import uuid
from urllib.parse import urlsplit

from soulsandbox.jobsets import JobSet, job_shape
from soulwire import contract, signing

# Attempts per message, the first backoff (doubling), the socket timeout.
WEBHOOK_ATTEMPTS = 3
WEBHOOK_BACKOFF = 0.2
WEBHOOK_TIMEOUT = 5.0


def messages_for(job_set: JobSet, duplicates: int, reorder: bool) -> list[tuple[str, bytes]]:
    """(webhook id, body) of each message to send for a job set that has finished, in order.

    The final message is sent ``1 + duplicates`` times under one id. With ``reorder``, a
    stale message follows it: what a callback sent while the jobs ran looks like, arriving late.
    """
    # The timer may fire a hair early by the wall clock: show the terminal state anyway.
    final = job_set.view(max(time.time(), job_set.terminal_at), job_set.base_url)
    final_body = json.dumps(final).encode()
    messages = [(f"msg_{uuid.uuid4().hex}", final_body)] * (1 + duplicates)
    if reorder:
        stale = job_set.view(max(time.time(), job_set.terminal_at), job_set.base_url)
        stale["jobs"] = [job_shape(job["id"], contract.IN_PROGRESS, None) for job in stale["jobs"]]
        messages.append((f"msg_{uuid.uuid4().hex}", json.dumps(stale).encode()))
    return messages


def host_of(url: str) -> str:
    """The host of a receiver's URL, for a log line: its path may carry the receiver's secret token."""
    return urlsplit(url).netloc.rpartition("@")[2]


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


def deliver(
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
        try:
            signed = signing.sign_headers(secret, message_id, body, time.time())
        except ValueError:  # an empty secret
            return False, "no secret to sign with"
        headers = {"Content-Type": "application/json", "User-Agent": "soul-sandbox", **signed}
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
