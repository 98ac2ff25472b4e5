"""The one webhook signer and verifier (soulwire.signing), checked against a hand-made HMAC.

No database and no server: the sandbox's delivery and the receiver's view are tested over
HTTP in test_sandbox_faults.py and test_recovery.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

import pytest

from soulwire import signing

BODY = b'{"id": "up-1", "jobs": []}'


def by_hand(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def whsec() -> tuple[str, bytes]:
    key = secrets.token_bytes(24)
    return "whsec_" + base64.b64encode(key).decode(), key


def test_a_whsec_secret_signs_with_its_decoded_bytes_and_another_with_its_utf8_bytes():
    secret, key = whsec()
    now = int(time.time())
    assert signing.sign(secret, "msg_1", now, BODY) == by_hand(key, "msg_1", now, BODY)
    plain = "plain secret é"
    assert signing.sign(plain, "msg_1", now, BODY) == by_hand(plain.encode(), "msg_1", now, BODY)
    # Not base64 after the prefix: the secret is used as it is.
    odd = "whsec_not base64!"
    assert signing.sign(odd, "msg_1", now, BODY) == by_hand(odd.encode(), "msg_1", now, BODY)


def test_the_headers_carry_the_id_the_whole_seconds_and_the_signature():
    secret, key = whsec()
    headers = signing.sign_headers(secret, "msg_7", BODY, 1_700_000_000.9)
    assert headers == {
        "webhook-id": "msg_7",
        "webhook-timestamp": "1700000000",
        "webhook-signature": by_hand(key, "msg_7", 1_700_000_000, BODY),
    }


def test_an_empty_secret_cannot_sign():
    with pytest.raises(ValueError):
        signing.sign_headers("", "msg_1", BODY, time.time())


def test_verify_takes_a_fresh_matching_signature_and_nothing_else():
    secret, _ = whsec()
    headers = signing.sign_headers(secret, "msg_1", BODY, time.time())
    assert signing.verify(secret, headers, BODY)
    assert signing.verify(secret, {name.upper(): value for name, value in headers.items()}, BODY)
    # One of several space-separated signatures may match.
    several = {**headers, "webhook-signature": "v1,wrong " + headers["webhook-signature"]}
    assert signing.verify(secret, several, BODY)

    assert not signing.verify(secret, headers, BODY + b" ")
    assert not signing.verify(whsec()[0], headers, BODY)
    assert not signing.verify(secret, {**headers, "webhook-id": "msg_2"}, BODY)
    assert not signing.verify(secret, {**headers, "webhook-signature": None}, BODY)
    assert not signing.verify(secret, {"webhook-id": "msg_1"}, BODY)
    assert not signing.verify("", headers, BODY)
    stale = signing.sign_headers(secret, "msg_1", BODY, time.time() - signing.TOLERANCE_SECONDS - 60)
    assert not signing.verify(secret, stale, BODY)
    early = signing.sign_headers(secret, "msg_1", BODY, time.time() + signing.TOLERANCE_SECONDS + 60)
    assert not signing.verify(secret, early, BODY)


def test_problem_says_which_check_a_call_failed():
    secret, _ = whsec()
    now = time.time()
    headers = signing.sign_headers(secret, "msg_1", BODY, now)
    assert signing.problem(secret, headers, BODY) is None
    assert signing.problem(secret, {}, BODY) == signing.MISSING
    assert signing.problem(secret, {**headers, "webhook-signature": ""}, BODY) == signing.MISSING
    assert signing.problem(secret, {**headers, "webhook-timestamp": "soon"}, BODY) == signing.INVALID
    for odd in ("nan", "inf", "1e400", "-1"):
        assert signing.problem(secret, {**headers, "webhook-timestamp": odd}, BODY) == signing.STALE, odd
    old = signing.sign_headers(secret, "msg_1", BODY, now - signing.TOLERANCE_SECONDS - 5)
    assert signing.problem(secret, old, BODY) == signing.STALE
    assert signing.problem(secret, headers, BODY + b"!") == signing.INVALID
    assert signing.problem("", headers, BODY) == signing.INVALID
