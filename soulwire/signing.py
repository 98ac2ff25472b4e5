"""Standard Webhooks signatures: the one signer (the sandbox) and the one verifier (soulsite).

A message is signed as ``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">``
with the ``webhook-id`` and ``webhook-timestamp`` headers beside it (``docs/UPSTREAM.md``,
Webhooks). The HMAC, the header format and the five-minute replay window are the
``standardwebhooks`` reference library's; this module only decides the key.

The key: a secret ``whsec_<base64>`` (what soulsite makes) signs with the decoded bytes, as
the standard says. Any other secret signs with its UTF-8 bytes, as the sandbox and the
receiver always did; the library alone would base64-decode it instead, giving another key.
"""

from __future__ import annotations

import base64
import binascii
import math
import time
from collections.abc import Mapping
from datetime import UTC, datetime

from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook, WebhookVerificationError

SECRET_PREFIX = "whsec_"
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
HEADERS = (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER)
# How far a timestamp may be from the receiver's clock, against replays (the library's window).
TOLERANCE_SECONDS = 5 * 60

# Why a call does not verify (what problem() answers).
MISSING = "missing"  # one of the three headers is absent or empty
STALE = "stale"  # the timestamp is further than TOLERANCE_SECONDS from now, either way
INVALID = "invalid"  # no signature matches (or a header cannot be read)


def signing_key(secret: str) -> bytes:
    """The HMAC key: base64-decoded after ``whsec_``, else (or when that fails) the UTF-8 bytes."""
    if secret.startswith(SECRET_PREFIX):
        try:
            key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
        except (binascii.Error, ValueError):  # not base64 after all: use the secret as it is
            key = b""
        if key:
            return key
    return secret.encode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value for ``body`` sent as ``msg_id`` at ``timestamp`` (Unix seconds).

    Raises ValueError for an empty secret, which cannot sign.
    """
    if not secret:
        raise ValueError("an empty webhook secret cannot sign")
    return Webhook(signing_key(secret)).sign(msg_id, datetime.fromtimestamp(timestamp, UTC), body)


def sign_headers(secret: str, msg_id: str, body: bytes, now: float) -> dict[str, str]:
    """The three Standard Webhooks headers of one attempt to send ``body`` at ``now`` (Unix time)."""
    timestamp = int(now)
    return {
        ID_HEADER: msg_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, msg_id, timestamp, body),
    }


def problem(secret: str, headers: Mapping[str, str | None], body: bytes) -> str | None:
    """Why a call does not verify (MISSING, STALE or INVALID), or None when it does.

    It verifies when all three headers are there, the timestamp is fresh and one signature
    matches. The signature header may carry several space-separated signatures
    (``v1,abc v1,def``); one match is enough. ``headers`` may hold other headers too; names
    are case-insensitive. The library gives one error for every failure; the timestamp is
    looked at here first only to say which one it was (in the log and the answer).
    """
    present = {name.lower(): value for name, value in headers.items() if value}
    if not all(present.get(name) for name in HEADERS):
        return MISSING
    try:
        timestamp = float(present[TIMESTAMP_HEADER])
    except ValueError:
        return INVALID
    if not math.isfinite(timestamp) or abs(time.time() - timestamp) > TOLERANCE_SECONDS:
        return STALE
    try:
        Webhook(signing_key(secret)).verify(body, present, json_parse=False)
    except (WebhookVerificationError, EmptyWebhookSecretError):
        return INVALID
    return None


def verify(secret: str, headers: Mapping[str, str | None], body: bytes) -> bool:
    """True when the call verifies (see problem())."""
    return problem(secret, headers, body) is None
