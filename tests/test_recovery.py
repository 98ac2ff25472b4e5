"""What people and admins can do when things go wrong, and the gateway's paused state."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from generations.actions import jobsets
from generations.actions import teams as team_actions
from generations.ledger import budgets
from generations.lifecycle import download, poll, send
from generations.models import Attempt, Budget, GatewayState, Job, JobSet, Membership
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
    JobSet.objects.filter(pk=original.pk).update(
        status=Status.FAILED, charge=JobSet.Charge.RELEASED, status_reason="refused"
    )
    assert "Try again" in client.get("/").content.decode()

    response = client.post(f"/job-sets/{original.pk}/submit-again/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    again = JobSet.objects.exclude(pk=original.pk).get()
    assert (again.prompt, again.quality, again.batch_size, again.seed) == ("again please", "1080p", 4, 9)
    assert again.idempotency_key != original.idempotency_key
    assert again.status == Status.WAITING
    original.refresh_from_db()
    assert original.status == Status.FAILED


# --- Unconfirmed: sent, no answer ---------------------------------------------------------------


def unconfirmed(user, **fields) -> JobSet:
    """A job set sent just now whose answer never came."""
    job_set = make_job_set(user, **fields)
    JobSet.objects.filter(pk=job_set.pk).update(
        status=Status.UNCONFIRMED,
        status_reason="We sent this but got no answer.",
        sent_at=timezone.now(),
        finished_at=timezone.now(),
        send_attempts=1,
    )
    job_set.refresh_from_db()
    return job_set


@pytest.mark.django_db(transaction=True)
def test_an_unconfirmed_job_set_is_sent_again_with_its_own_key_and_made_and_charged_once(
    client, alice, settings, faults, sandbox_stats
):
    settings.SOUL_READ_TIMEOUT = 0.5
    soul_client.reset_client()
    faults(drop_rate=1.0, queue_seconds=0, complete_seconds=0.2)  # taken, and the answer never comes
    job_set = make_job_set(alice, prompt="a lighthouse at dusk")
    send.send_waiting("t")
    job_set.refresh_from_db()
    assert job_set.status == Status.UNCONFIRMED and job_set.charge == JobSet.Charge.RESERVED
    key = str(job_set.idempotency_key)

    client.force_login(alice)
    card = client.get(f"/job-sets/{job_set.pk}/card/").content.decode()
    assert "We sent this but got no answer" in card and "may have accepted (and charged) it" in card
    assert "Send again safely" in card and "not made or charged twice" in card
    assert "$0.15 stays reserved" in card

    faults(drop_rate=0.0)
    response = client.post(f"/job-sets/{job_set.pk}/submit-again/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "Sending it again as the same request" in response.content.decode()
    assert JobSet.objects.count() == 1  # the same job set, not a second one
    job_set.refresh_from_db()
    assert job_set.status == Status.WAITING and str(job_set.idempotency_key) == key
    assert job_set.charge == JobSet.Charge.RESERVED

    send.send_waiting("t")
    stats = sandbox_stats()
    assert stats["submits_by_key"] == {key: 2}  # sent twice with the one key...
    assert stats["by_idempotency_key"] == {key: 1} and stats["job_sets"] == 1  # ...made once
    assert stats["submits_replayed"] == 1
    job_set.refresh_from_db()
    assert job_set.status in JobSet.POLLED and job_set.upstream_id
    time.sleep(0.3)
    JobSet.objects.filter(pk=job_set.pk).update(claimed_by="t", due_at=timezone.now())
    poll.track(job_set.pk, "t")
    job_set.refresh_from_db()
    assert job_set.status == Status.COMPLETED and job_set.charge == JobSet.Charge.CHARGED
    assert sandbox_stats()["charged_keys"] == [key]
    assert Attempt.objects.filter(job_set=job_set, kind="admin", asked__contains="alice").exists()


@pytest.mark.django_db
def test_an_unconfirmed_job_set_holds_its_slot_until_the_stated_time(alice, settings):
    settings.SOUL_MAX_IN_FLIGHT = 1
    settings.SOUL_UNCONFIRMED_HOLD = 600
    unsure = unconfirmed(alice)
    waiting = make_job_set(alice, prompt="next in line")
    assert send.in_flight_count() == 1
    assert send.claim_next("t") is None  # the gateway may be working on the unconfirmed one

    # Nine minutes on, it still may be; after ten, the gateway has finished or refused it.
    JobSet.objects.filter(pk=unsure.pk).update(sent_at=timezone.now() - timedelta(seconds=540))
    assert send.claim_next("t") is None
    JobSet.objects.filter(pk=unsure.pk).update(sent_at=timezone.now() - timedelta(seconds=601))
    assert send.in_flight_count() == 0
    assert send.claim_next("t").pk == waiting.pk
    unsure.refresh_from_db()
    assert unsure.charge == JobSet.Charge.RESERVED  # the slot is free, the money is not


@pytest.mark.django_db
def test_a_settled_unconfirmed_job_set_frees_its_slot(alice, admin_user, settings):
    settings.SOUL_MAX_IN_FLIGHT = 1
    unsure = unconfirmed(alice)
    make_job_set(alice, prompt="next in line")
    assert send.claim_next("t") is None
    assert jobsets.settle_unconfirmed(unsure, charged=True, who="admin")
    assert send.claim_next("t") is not None


@pytest.mark.django_db
def test_an_unconfirmed_job_set_keeps_its_money_in_the_budget_and_a_safe_resend_takes_no_more(
    client, alice, team_a
):
    Budget.objects.create(team=team_a, user=alice, monthly_limit=Decimal("0.20"))
    unsure = unconfirmed(alice)  # $0.15, reserved
    client.force_login(alice)
    new = {"prompt": "another", "width_and_height": "1536x2048", "quality": "720p", "batch_size": "1"}
    refused = client.post("/generate/", new, HTTP_HX_REQUEST="true")
    assert refused.status_code == 422 and "$0.05 is left" in refused.content.decode()

    response = client.post(f"/job-sets/{unsure.pk}/submit-again/", follow=True)
    assert "would go over" not in response.content.decode()
    assert JobSet.objects.count() == 1
    unsure.refresh_from_db()
    assert unsure.status == Status.WAITING and unsure.charge == JobSet.Charge.RESERVED
    assert budgets.budget_states(alice, team_a)[0].used == Decimal("0.15")


@pytest.mark.django_db
def test_only_its_owner_a_manager_or_staff_send_an_unconfirmed_job_set_again(
    client, alice, team_a, django_user_model
):
    carol = django_user_model.objects.create_user("carol")
    team_actions.add_member(team_a, carol)
    unsure = unconfirmed(alice)
    client.force_login(carol)
    card = client.get(f"/job-sets/{unsure.pk}/card/").content.decode()
    assert "Send again safely" not in card and "Its owner or a team manager can send it again" in card
    assert client.post(f"/job-sets/{unsure.pk}/submit-again/").status_code == 404
    assert JobSet.objects.count() == 1  # and no copy with a new key either
    unsure.refresh_from_db()
    assert unsure.status == Status.UNCONFIRMED

    team_actions.add_member(team_a, carol, Membership.Role.MANAGER)
    assert client.post(f"/job-sets/{unsure.pk}/submit-again/").status_code == 302
    unsure.refresh_from_db()
    assert unsure.status == Status.WAITING


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("answer", "status", "words"),
    [
        (
            {"status": 400, "body": {"error": "Invalid request parameters"}},
            Status.UNCONFIRMED,
            "did not go through",
        ),
        (
            {"status": 429, "body": {"error": "slow down"}, "headers": {"Retry-After": "1"}},
            Status.WAITING,
            "Its price stays reserved",
        ),
    ],
    ids=["refused", "rate-limited"],
)
def test_a_resend_that_is_refused_keeps_the_money_reserved(alice, script, answer, status, words):
    unsure = unconfirmed(alice)
    assert jobsets.send_again(unsure, "alice")
    script("submit", answer)
    send.send_waiting("t")
    unsure.refresh_from_db()
    assert unsure.status == status and words in unsure.status_reason, unsure.status_reason
    assert unsure.charge == JobSet.Charge.RESERVED  # the first request may have been charged
    assert "Nothing was charged" not in unsure.status_reason


@pytest.mark.django_db
def test_a_settled_unconfirmed_job_set_is_not_sent_again_as_itself(alice):
    unsure = unconfirmed(alice)
    assert jobsets.settle_unconfirmed(unsure, charged=False, who="admin")
    unsure.refresh_from_db()
    assert not jobsets.send_again(unsure, "alice")
    assert not jobsets.is_sent_again_as_itself(unsure)


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
