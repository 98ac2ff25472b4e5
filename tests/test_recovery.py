"""What people and admins can do when things go wrong, and the gateway's paused state."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from generations.lifecycle import download, poll, send
from generations.models import Attempt, GatewayState, Job, JobSet
from generations.upstream import client as soul_client
from generations.upstream import gateway
from soulsandbox.server import SandboxConfig, SandboxServer
from tests.factories import make_job_set
from tests.servers import closed_port_url

Status = JobSet.Status


@pytest.fixture
def strict_sandbox(settings):
    """A sandbox that accepts only one key; soulsite starts with the wrong one."""
    server = SandboxServer(
        SandboxConfig(api_key="the-right-key", queue_seconds=0.1, complete_seconds=0.3)
    ).start()
    settings.SOUL_API_BASE_URL = server.url
    settings.SOUL_API_KEY = "a-wrong-key"
    soul_client.reset_client()
    yield server
    server.stop()


@pytest.mark.django_db(transaction=True)
def test_a_refused_key_pauses_sending_until_a_probe_finds_the_key_works(alice, settings, strict_sandbox):
    first = make_job_set(alice, prompt="first")
    second = make_job_set(alice, prompt="second")
    send.send_waiting("test")

    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == Status.FAILED and "Sending is paused" in first.status_reason
    assert second.status == Status.WAITING  # not sent into a refusal: it waits, nothing lost
    state = GatewayState.get()
    assert state.paused and state.paused_status == 401

    assert not gateway.probe_if_due()  # the key is still wrong
    assert GatewayState.get().paused

    settings.SOUL_API_KEY = "the-right-key"
    soul_client.reset_client()
    GatewayState.objects.update(last_probe_at=timezone.now() - timedelta(minutes=5))
    assert gateway.probe_if_due()
    assert not GatewayState.get().paused
    assert send.send_waiting("test") == 1
    second.refresh_from_db()
    assert second.status in JobSet.POLLED


@pytest.mark.django_db
def test_everyone_sees_the_pause_and_admins_get_a_way_to_resume(client, alice, admin_client):
    GatewayState.objects.create(pk=1, paused=True, paused_status=402, paused_reason="No credits left")
    client.force_login(alice)
    page = client.get("/").content.decode()
    assert "Sending to Soul is paused" in page and "No credits left" in page
    assert "resume sending" not in page
    admin_page = admin_client.get("/admin/").content.decode()
    assert "Sending to Soul is paused" in admin_page and "resume sending" in admin_page

    response = admin_client.post(
        "/admin/generations/gatewaystate/", {"action": "resume_sending", "_selected_action": ["1"]}
    )
    assert response.status_code == 302
    assert not GatewayState.get().paused


@pytest.mark.django_db
def test_a_concurrency_answer_lowers_the_cap_for_a_while(settings):
    settings.SOUL_MAX_IN_FLIGHT = 4
    assert gateway.max_in_flight() == 4
    gateway.note_concurrency_limit(2)
    assert gateway.max_in_flight() == 2
    GatewayState.objects.update(concurrency_limit_until=timezone.now() - timedelta(seconds=1))
    assert gateway.max_in_flight() == 4


@pytest.mark.django_db
def test_a_person_cancels_a_job_set_still_waiting_but_not_one_already_sent(client, alice):
    client.force_login(alice)
    waiting = make_job_set(alice)
    sent = make_job_set(alice)
    JobSet.objects.filter(pk=sent.pk).update(status=Status.SUBMITTED)

    response = client.post(f"/job-sets/{waiting.pk}/cancel/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "Canceled before it was sent" in response.content.decode()
    waiting.refresh_from_db()
    assert (waiting.status, waiting.charge) == (Status.CANCELED, JobSet.Charge.RELEASED)

    client.post(f"/job-sets/{sent.pk}/cancel/")
    sent.refresh_from_db()
    assert sent.status == Status.SUBMITTED


@pytest.mark.django_db
def test_nobody_cancels_or_resubmits_someone_elses_job_set(client, alice, bob):
    job_set = make_job_set(alice)
    client.force_login(bob)
    for action in ("cancel", "submit-again", "retry-download"):
        assert client.post(f"/job-sets/{job_set.pk}/{action}/").status_code == 404
    job_set.refresh_from_db()
    assert job_set.status == Status.WAITING
    assert JobSet.objects.count() == 1


@pytest.mark.django_db
def test_submit_again_makes_a_new_job_set_with_the_same_parameters_and_a_new_key(client, alice):
    client.force_login(alice)
    original = make_job_set(alice, prompt="again please", quality="1080p", batch_size=4, seed=9)
    JobSet.objects.filter(pk=original.pk).update(status=Status.UNCONFIRMED, status_reason="no answer")
    html = client.get("/").content.decode()
    assert "Submit again" in html and "may have gone through" in html

    response = client.post(f"/job-sets/{original.pk}/submit-again/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    again = JobSet.objects.exclude(pk=original.pk).get()
    assert (again.prompt, again.quality, again.batch_size, again.seed) == ("again please", "1080p", 4, 9)
    assert again.idempotency_key != original.idempotency_key
    assert again.status == Status.WAITING
    original.refresh_from_db()
    assert original.status == Status.UNCONFIRMED  # settled by a person in admin, not by this


@pytest.mark.django_db(transaction=True)
def test_a_download_that_keeps_failing_shows_and_can_be_retried(client, alice, settings):
    # This gateway hands out result URLs on a host where nothing listens.
    nowhere = closed_port_url()
    broken = SandboxServer(SandboxConfig(queue_seconds=0, complete_seconds=0, public_url=nowhere)).start()
    settings.SOUL_API_BASE_URL = broken.url
    soul_client.reset_client()
    try:
        job_set = make_job_set(alice)
        send.send_waiting("test")
        for _ in range(download.MAX_DOWNLOAD_ATTEMPTS):
            JobSet.objects.filter(pk=job_set.pk).update(claimed_by="w", due_at=timezone.now())
            poll.track(job_set.pk, "w")
        job_set.refresh_from_db()
        assert job_set.status == Status.COMPLETED
        assert "could not be downloaded" in job_set.status_reason
        job = job_set.jobs.get()
        assert job.raw_url.startswith("http://127.0.0.1") and not job.image  # the upstream URL is kept
        failures = Attempt.objects.filter(job_set=job_set, kind="download", ok=False).count()
        assert failures == download.MAX_DOWNLOAD_ATTEMPTS
        client.force_login(alice)
        assert "Retry download" in client.get("/").content.decode()

        # The files are reachable again: a person retries.
        Job.objects.filter(pk=job.pk).update(
            raw_url=job.raw_url.replace(nowhere, broken.url),
            min_url=job.min_url.replace(nowhere, broken.url),
        )
        client.post(f"/job-sets/{job_set.pk}/retry-download/")
        JobSet.objects.filter(pk=job_set.pk).update(claimed_by="w")
        poll.track(job_set.pk, "w")
    finally:
        broken.stop()
    job_set.refresh_from_db()
    job.refresh_from_db()
    assert job_set.status == Status.COMPLETED and job.image and not job_set.status_reason
    assert job_set.charge == JobSet.Charge.CHARGED


@pytest.mark.django_db
def test_admin_settles_an_unconfirmed_job_set_and_the_history_shows_it(admin_client, alice):
    job_set = make_job_set(alice)
    JobSet.objects.filter(pk=job_set.pk).update(status=Status.UNCONFIRMED, status_reason="No answer.")
    response = admin_client.post(
        "/admin/generations/jobset/", {"action": "settle_not_charged", "_selected_action": [str(job_set.pk)]}
    )
    assert response.status_code == 302
    job_set.refresh_from_db()
    assert job_set.charge == JobSet.Charge.RELEASED
    assert "Settled by admin admin: it was not charged" in job_set.status_reason
    page = admin_client.get(f"/admin/generations/jobset/{job_set.pk}/change/").content.decode()
    assert "Attempt history" in page and "settle unconfirmed" in page


@pytest.mark.django_db
def test_admin_marks_a_stuck_job_set_failed_and_polls_another_now(admin_client, alice):
    stuck = make_job_set(alice)
    flying = make_job_set(alice)
    later = timezone.now() + timedelta(hours=1)
    JobSet.objects.filter(pk__in=[stuck.pk, flying.pk]).update(status=Status.IN_PROGRESS, due_at=later)
    admin_client.post(
        "/admin/generations/jobset/", {"action": "mark_failed", "_selected_action": [str(stuck.pk)]}
    )
    admin_client.post(
        "/admin/generations/jobset/", {"action": "poll_now", "_selected_action": [str(flying.pk)]}
    )
    stuck.refresh_from_db()
    flying.refresh_from_db()
    assert stuck.status == Status.FAILED and stuck.charge == JobSet.Charge.RELEASED
    assert flying.due_at <= timezone.now()


# --- Webhook receiver -------------------------------------------------------------------


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


@pytest.fixture
def hooked_job_set(settings, alice):
    settings.SOUL_PUBLIC_URL = "https://soul.example.com"
    job_set = make_job_set(alice)
    later = timezone.now() + timedelta(hours=1)
    JobSet.objects.filter(pk=job_set.pk).update(status=Status.IN_PROGRESS, due_at=later, upstream_id="up-1")
    job_set.refresh_from_db()
    return job_set


@pytest.mark.django_db
def test_webhooks_are_sent_only_when_a_public_url_is_set(settings, alice):
    assert "webhook_url" not in send.request_body(make_job_set(alice))
    settings.SOUL_PUBLIC_URL = "https://soul.example.com"
    job_set = make_job_set(alice)
    body = send.request_body(job_set)
    assert body["webhook_url"] == f"https://soul.example.com/hooks/soul/{job_set.webhook_token}/"
    assert body["webhook_secret"].startswith("whsec_")
    assert len(job_set.webhook_token) >= 40


@pytest.mark.django_db
def test_a_callback_without_login_or_csrf_moves_the_next_poll_to_now(hooked_job_set):
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        f"/hooks/soul/{hooked_job_set.webhook_token}/", data=b"{}", content_type="application/json"
    )
    assert response.status_code == 204
    hooked_job_set.refresh_from_db()
    assert hooked_job_set.due_at <= timezone.now()
    assert hooked_job_set.status == Status.IN_PROGRESS  # a hint, not the truth


@pytest.mark.django_db
def test_a_callback_with_an_unknown_token_is_404_and_changes_nothing(hooked_job_set):
    before = hooked_job_set.due_at
    assert (
        Client().post("/hooks/soul/not-a-token/", data=b"{}", content_type="application/json").status_code
        == 404
    )
    hooked_job_set.refresh_from_db()
    assert hooked_job_set.due_at == before


@pytest.mark.django_db
def test_a_signed_callback_must_carry_a_valid_fresh_signature(hooked_job_set):
    url = f"/hooks/soul/{hooked_job_set.webhook_token}/"
    body = json.dumps({"id": "up-1", "jobs": []}).encode()
    now = int(time.time())
    secret = hooked_job_set.webhook_secret
    before = hooked_job_set.due_at

    def post(signature: str, timestamp: int = now, msg_id: str = "msg_1"):
        return Client().post(
            url,
            data=body,
            content_type="application/json",
            HTTP_WEBHOOK_ID=msg_id,
            HTTP_WEBHOOK_TIMESTAMP=str(timestamp),
            HTTP_WEBHOOK_SIGNATURE=signature,
        )

    assert post("v1,bm90IGEgc2lnbmF0dXJl").status_code == 401
    assert post(sign(secret, "msg_1", now - 3600, body), timestamp=now - 3600).status_code == 401  # replayed
    missing = Client().post(url, data=body, content_type="application/json", HTTP_WEBHOOK_ID="msg_1")
    assert missing.status_code == 401
    hooked_job_set.refresh_from_db()
    assert hooked_job_set.due_at == before

    good = sign(secret, "msg_1", now, body)
    assert post(good).status_code == 204
    assert post(good).status_code == 204  # a duplicate is harmless
    assert post(f"v1,wrong {good}").status_code == 204  # one of several signatures may match
    hooked_job_set.refresh_from_db()
    assert hooked_job_set.due_at <= timezone.now()


@pytest.mark.django_db
def test_a_late_callback_for_a_finished_job_set_changes_nothing(hooked_job_set):
    JobSet.objects.filter(pk=hooked_job_set.pk).update(status=Status.COMPLETED, due_at=None)
    response = Client().post(
        f"/hooks/soul/{hooked_job_set.webhook_token}/", data=b"{}", content_type="application/json"
    )
    assert response.status_code == 204
    hooked_job_set.refresh_from_db()
    assert hooked_job_set.status == Status.COMPLETED and hooked_job_set.due_at is None


@pytest.mark.django_db
def test_the_webhook_receiver_only_takes_post(hooked_job_set):
    assert Client().get(f"/hooks/soul/{hooked_job_set.webhook_token}/").status_code == 405
