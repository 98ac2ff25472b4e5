"""The webhook receiver, per Standard Webhooks: signed or refused, a repeated id taken once, a flood bounded.

The signatures here are made by hand (HMAC-SHA256 of "id.timestamp.body"), not by
soulwire.signing, so that the receiver is checked against the spec and not against itself.
The sandbox's real deliveries to a live server are in test_resilience.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from generations.actions import webhooks
from generations.lifecycle import send, timing
from generations.models import Attempt, JobSet, WebhookDelivery
from generations.web.views import webhooks as receiver
from tests.factories import make_job_set

pytestmark = pytest.mark.django_db
Status = JobSet.Status
BODY = json.dumps({"id": "up-1", "jobs": []}).encode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed(secret: str, msg_id: str = "msg_1", at: float | None = None, body: bytes = BODY) -> dict:
    """The three headers, as Django's test client takes them."""
    timestamp = int(time.time() if at is None else at)
    return {
        "HTTP_WEBHOOK_ID": msg_id,
        "HTTP_WEBHOOK_TIMESTAMP": str(timestamp),
        "HTTP_WEBHOOK_SIGNATURE": sign(secret, msg_id, timestamp, body),
    }


def post(job_set_or_token, headers: dict | None = None, body: bytes = BODY, client: Client | None = None):
    token = getattr(job_set_or_token, "webhook_token", job_set_or_token)
    client = client or Client()
    return client.post(f"/hooks/soul/{token}/", data=body, content_type="application/json", **(headers or {}))


@pytest.fixture(autouse=True)
def quiet_log(monkeypatch):
    """A fresh log limiter for each test (it lives as long as the process)."""
    monkeypatch.setattr(receiver, "quiet", receiver.QuietLog())


@pytest.fixture
def hooked_job_set(settings, alice):
    """In flight, its next poll an hour away."""
    settings.SOUL_PUBLIC_URL = "https://soul.example.com"
    job_set = make_job_set(alice)
    later = timezone.now() + timedelta(hours=1)
    JobSet.objects.filter(pk=job_set.pk).update(status=Status.IN_PROGRESS, due_at=later, upstream_id="up-1")
    job_set.refresh_from_db()
    return job_set


def poll_later(job_set: JobSet) -> None:
    """What a poll does afterwards: the next one is later again."""
    JobSet.objects.filter(pk=job_set.pk).update(due_at=timezone.now() + timedelta(hours=1))


def taken(job_set: JobSet) -> int:
    return Attempt.objects.filter(job_set=job_set, kind=Attempt.Kind.WEBHOOK, ok=True).count()


def test_webhooks_are_sent_only_when_a_public_url_is_set(settings, alice):
    assert "webhook_url" not in send.request_body(make_job_set(alice))
    settings.SOUL_PUBLIC_URL = "https://soul.example.com"
    job_set = make_job_set(alice)
    body = send.request_body(job_set)
    assert body["webhook_url"] == f"https://soul.example.com/hooks/soul/{job_set.webhook_token}/"
    assert body["webhook_secret"].startswith("whsec_")
    assert len(job_set.webhook_token) >= 40


def test_a_signed_callback_without_login_or_csrf_moves_the_next_poll_to_now(hooked_job_set):
    client = Client(enforce_csrf_checks=True)
    response = post(hooked_job_set, signed(hooked_job_set.webhook_secret), client=client)
    assert response.status_code == 204
    hooked_job_set.refresh_from_db()
    assert hooked_job_set.due_at <= timezone.now()
    assert hooked_job_set.status == Status.IN_PROGRESS  # a hint, not the truth
    note = Attempt.objects.get(job_set=hooked_job_set, kind=Attempt.Kind.WEBHOOK)
    assert note.ok and "msg_1" in note.answer


def test_an_unsigned_callback_is_refused_with_401_and_changes_nothing(hooked_job_set):
    before = hooked_job_set.due_at
    response = post(hooked_job_set)
    assert response.status_code == 401
    assert "Missing signature" in response.content.decode()
    hooked_job_set.refresh_from_db()
    assert hooked_job_set.due_at == before
    assert taken(hooked_job_set) == 0 and not WebhookDelivery.objects.exists()


def test_a_wrongly_signed_or_stale_callback_is_refused_with_401_and_changes_nothing(hooked_job_set):
    secret = hooked_job_set.webhook_secret
    before = hooked_job_set.due_at
    now = time.time()
    other_secret = "whsec_" + base64.b64encode(b"another key entirely").decode()
    refused = {
        "not a signature": {**signed(secret), "HTTP_WEBHOOK_SIGNATURE": "v1,bm90IGEgc2lnbmF0dXJl"},
        "another job set's secret": signed(other_secret),
        "another id than signed": {**signed(secret), "HTTP_WEBHOOK_ID": "msg_2"},
        "only the id": {"HTTP_WEBHOOK_ID": "msg_1"},
        "a timestamp that is no number": {**signed(secret), "HTTP_WEBHOOK_TIMESTAMP": "soon"},
        "replayed an hour later": signed(secret, at=now - 3600),
        "six minutes old": signed(secret, at=now - 360),
        "six minutes ahead": signed(secret, at=now + 360),
    }
    for case, headers in refused.items():
        response = post(hooked_job_set, headers)
        assert response.status_code == 401, case
    assert "Invalid signature" in post(hooked_job_set, refused["not a signature"]).content.decode()
    assert "5 minutes" in post(hooked_job_set, refused["six minutes old"]).content.decode()
    tampered = post(hooked_job_set, signed(secret), body=BODY + b" ")
    assert tampered.status_code == 401
    hooked_job_set.refresh_from_db()
    assert hooked_job_set.due_at == before
    assert taken(hooked_job_set) == 0 and not WebhookDelivery.objects.exists()
    # Within the five minutes, and one of several signatures matching, is taken.
    several = signed(secret, at=now - 240)
    several["HTTP_WEBHOOK_SIGNATURE"] = "v1,d3Jvbmc= " + several["HTTP_WEBHOOK_SIGNATURE"]
    assert post(hooked_job_set, several).status_code == 204
    assert taken(hooked_job_set) == 1


def test_a_repeated_webhook_id_is_answered_204_and_taken_once(hooked_job_set):
    secret = hooked_job_set.webhook_secret
    assert post(hooked_job_set, signed(secret, "msg_1")).status_code == 204
    poll_later(hooked_job_set)
    # The sender's retry (a fresh timestamp, the same id), and a replay of the very same call.
    assert post(hooked_job_set, signed(secret, "msg_1", at=time.time() + 2)).status_code == 204
    assert post(hooked_job_set, signed(secret, "msg_1")).status_code == 204
    hooked_job_set.refresh_from_db()
    assert hooked_job_set.due_at > timezone.now() + timedelta(minutes=59)  # not moved again
    assert taken(hooked_job_set) == 1
    assert WebhookDelivery.objects.filter(job_set=hooked_job_set).count() == 1


def test_a_flood_of_signed_callbacks_moves_the_poll_at_most_once_a_second(hooked_job_set):
    secret = hooked_job_set.webhook_secret
    started = timezone.now()
    for n in range(60):
        assert post(hooked_job_set, signed(secret, f"msg_{n}")).status_code == 204
        if n in (0, 30):
            poll_later(hooked_job_set)  # polled between callbacks: each poll leaves the next one later
    hooked_job_set.refresh_from_db()
    hints = list(WebhookDelivery.objects.filter(job_set=hooked_job_set).order_by("received_at"))
    # The first moved the poll to now; after the poll, the next moved it to a second after the
    # first; after the second poll, one more, a second after that. Everything else wrote nothing.
    assert len(hints) <= 3 and taken(hooked_job_set) == len(hints)
    assert hooked_job_set.due_at >= hints[-2].received_at + webhooks.HINT_GAP
    assert hooked_job_set.due_at >= started + webhooks.HINT_GAP


def test_a_callback_for_a_job_set_already_due_writes_nothing(hooked_job_set):
    JobSet.objects.filter(pk=hooked_job_set.pk).update(due_at=timezone.now() - timedelta(seconds=1))
    assert post(hooked_job_set, signed(hooked_job_set.webhook_secret)).status_code == 204
    assert taken(hooked_job_set) == 0 and not WebhookDelivery.objects.exists()


def test_an_unknown_token_costs_one_read_and_one_that_cannot_be_a_token_none(hooked_job_set, caplog):
    unknown = "A" * 43
    headers = signed(hooked_job_set.webhook_secret)
    for token, reads in ((unknown, 1), ("not-a-token", 0), ("x" * 500, 0)):
        with CaptureQueriesContext(connection) as queries:
            for _ in range(20):
                assert post(token, headers).status_code == 404
        assert len(queries) == 20 * reads, (token[:20], [q["sql"] for q in queries])
        assert "INSERT" not in " ".join(q["sql"] for q in queries)
    hooked_job_set.refresh_from_db()
    assert hooked_job_set.due_at > timezone.now() and not Attempt.objects.exists()
    assert len(caplog.records) == 1 and "unknown token" in caplog.text  # one line, not sixty
    assert unknown not in caplog.text


def test_a_flood_of_badly_signed_calls_notes_one_refusal_and_logs_a_few_lines(hooked_job_set, caplog):
    caplog.set_level(logging.WARNING, logger="generations.web.views.webhooks")
    bad = {**signed(hooked_job_set.webhook_secret), "HTTP_WEBHOOK_SIGNATURE": "v1,AAAA"}
    assert post(hooked_job_set, bad).status_code == 401
    with CaptureQueriesContext(connection) as queries:
        for _ in range(100):
            assert post(hooked_job_set, bad).status_code == 401
    assert len(queries) == 100  # one read each, and no write
    refusals = Attempt.objects.filter(job_set=hooked_job_set, kind=Attempt.Kind.WEBHOOK, ok=False)
    assert refusals.count() == 1 and "invalid signature" in refusals.get().answer
    assert 1 <= len(caplog.records) <= 2
    logged = caplog.text
    assert f"job set {hooked_job_set.pk}" in logged
    assert hooked_job_set.webhook_secret not in logged and hooked_job_set.webhook_token not in logged
    assert hooked_job_set.webhook_secret not in refusals.get().answer


def test_a_refused_callback_does_not_count_as_callbacks_arriving(hooked_job_set, monkeypatch):
    monkeypatch.setattr(timing, "_callbacks_seen", (0.0, False))
    post(hooked_job_set)
    assert Attempt.objects.filter(kind=Attempt.Kind.WEBHOOK, ok=False).exists()
    assert timing.callbacks_arrive() is False  # polls stay as frequent as without webhooks
    monkeypatch.setattr(timing, "_callbacks_seen", (0.0, False))
    post(hooked_job_set, signed(hooked_job_set.webhook_secret))
    assert timing.callbacks_arrive() is True


def test_webhook_ids_are_forgotten_after_two_days(hooked_job_set, alice):
    other = make_job_set(alice)
    old = timezone.now() - webhooks.ID_MEMORY - timedelta(minutes=1)
    WebhookDelivery.objects.create(job_set=other, webhook_id="msg_old", received_at=old)
    WebhookDelivery.objects.create(job_set=other, webhook_id="msg_recent", received_at=timezone.now())
    assert post(hooked_job_set, signed(hooked_job_set.webhook_secret)).status_code == 204
    assert set(WebhookDelivery.objects.values_list("webhook_id", flat=True)) == {"msg_recent", "msg_1"}


def test_a_webhook_id_too_long_to_remember_is_refused_with_400(hooked_job_set):
    response = post(hooked_job_set, signed(hooked_job_set.webhook_secret, "m" * 300))
    assert response.status_code == 400
    assert not WebhookDelivery.objects.exists()


def test_a_late_callback_for_a_finished_job_set_changes_nothing(hooked_job_set):
    JobSet.objects.filter(pk=hooked_job_set.pk).update(status=Status.COMPLETED, due_at=None)
    assert post(hooked_job_set, signed(hooked_job_set.webhook_secret)).status_code == 204
    hooked_job_set.refresh_from_db()
    assert hooked_job_set.status == Status.COMPLETED and hooked_job_set.due_at is None
    assert not WebhookDelivery.objects.exists()


def test_the_webhook_receiver_only_takes_post(hooked_job_set):
    assert Client().get(f"/hooks/soul/{hooked_job_set.webhook_token}/").status_code == 405
