"""The queue's controls (issue 21): each one done and written in the job set's history with who did it,
refused to those the rules in queries.access refuse (nothing changed), and the waiting card's
place, reason and estimate."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from generations.actions import queue as queue_actions
from generations.actions import teams as team_actions
from generations.lifecycle import timing
from generations.models import Attempt, GatewayState, JobSet, Membership
from generations.queries import queue as local_queue
from tests.factories import make_job_set

pytestmark = pytest.mark.django_db

Status = JobSet.Status


@pytest.fixture(autouse=True)
def _no_tasks(monkeypatch):
    monkeypatch.setattr("generations.lifecycle.send.enqueue_send", lambda: None)


@pytest.fixture
def carol(django_user_model, team_a):
    """A manager of team Alpha."""
    user = django_user_model.objects.create_user("carol", password="carol-password-1")
    team_actions.add_member(team_a, user, Membership.Role.MANAGER)
    return user


def sent(user, **fields) -> JobSet:
    job_set = make_job_set(user, **fields)
    JobSet.objects.filter(pk=job_set.pk).update(
        status=Status.IN_PROGRESS, sent_at=timezone.now(), upstream_id=f"up-{job_set.pk}"
    )
    job_set.refresh_from_db()
    return job_set


def history(job_set: JobSet) -> list[str]:
    return list(job_set.attempts.filter(kind=Attempt.Kind.QUEUE).values_list("asked", flat=True))


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_canceling_from_the_page_records_who_did_it(alice):
    waiting = make_job_set(alice)
    response = client_for(alice).post(reverse("cancel", args=[waiting.pk]), {"next": "/queue/"})
    assert response.status_code == 302
    waiting.refresh_from_db()
    assert waiting.status == Status.CANCELED and "(by alice)" in waiting.status_reason
    assert history(waiting) == ["cancel (alice)"]


def test_stop_waiting_frees_the_slot_keeps_the_charge_and_keeps_polling(alice):
    job_set = sent(alice)
    assert queue_actions.stop_waiting(job_set, alice)
    job_set.refresh_from_db()
    assert job_set.slot_freed_at is not None and job_set.slot_freed_by == alice
    assert job_set.status == Status.IN_PROGRESS and job_set.charge == "reserved"
    assert history(job_set) == ["stop waiting (alice)"]
    assert not queue_actions.stop_waiting(job_set, alice), "a second time changes nothing"
    assert history(job_set) == ["stop waiting (alice)"]


def test_stop_waiting_wakes_the_sender_once_committed(alice, monkeypatch, django_capture_on_commit_callbacks):
    job_set, woken = sent(alice), []
    monkeypatch.setattr("generations.lifecycle.send.enqueue_send", lambda: woken.append(1))
    with django_capture_on_commit_callbacks(execute=True):
        queue_actions.stop_waiting(job_set, alice)
    assert woken == [1]


def test_stop_waiting_is_refused_to_a_teammate_who_does_not_run_the_team(alice, django_user_model, team_a):
    tess = django_user_model.objects.create_user("tess")
    team_actions.add_member(team_a, tess)
    job_set = sent(tess)
    response = client_for(alice).post(reverse("stop-waiting", args=[job_set.pk]))
    assert response.status_code == 404
    job_set.refresh_from_db()
    assert job_set.slot_freed_at is None and history(job_set) == []


def test_clear_mine_cancels_only_ones_own_waiting_job_sets_and_says_how_many(alice, carol):
    mine = [make_job_set(alice) for _ in range(3)]
    theirs = make_job_set(carol)
    flying = sent(alice)
    response = client_for(alice).post(reverse("clear-mine"), follow=True)
    assert "Canceled 3 waiting job sets of yours" in response.content.decode()
    assert {JobSet.objects.get(pk=js.pk).status for js in mine} == {Status.CANCELED}
    assert JobSet.objects.get(pk=theirs.pk).status == Status.WAITING
    assert JobSet.objects.get(pk=flying.pk).status == Status.IN_PROGRESS
    assert all(history(js) == ["cancel (alice)"] for js in mine)


def test_a_manager_pauses_and_resumes_the_queue_with_history(carol, team_a):
    client = client_for(carol)
    assert client.post(reverse("pause-queue")).status_code == 302
    team_a.refresh_from_db()
    assert team_a.queue_paused_by == carol and team_a.queue_paused_at is not None
    assert client.post(reverse("resume-queue")).status_code == 302
    team_a.refresh_from_db()
    assert team_a.queue_paused_at is None and team_a.queue_paused_by is None
    reasons = list(team_a.history.values_list("history_change_reason", flat=True))
    assert "queue paused by carol" in reasons and "queue resumed by carol" in reasons


def test_a_member_may_not_pause_the_queue_and_nothing_changes(alice, team_a):
    assert client_for(alice).post(reverse("pause-queue")).status_code == 404
    team_a.refresh_from_db()
    assert team_a.queue_paused_at is None


def test_a_manager_lets_go_of_a_teammates_waiting_and_sent_job_sets(alice, carol):
    waiting, flying = make_job_set(alice), sent(alice)
    client = client_for(carol)
    assert client.post(reverse("let-go", args=[waiting.pk])).status_code == 302
    assert client.post(reverse("let-go", args=[flying.pk])).status_code == 302
    assert JobSet.objects.get(pk=waiting.pk).status == Status.CANCELED
    assert JobSet.objects.get(pk=flying.pk).slot_freed_by == carol
    assert history(waiting) == ["cancel (carol)"] and history(flying) == ["let go (carol)"]
    details = client_for(alice).get(reverse("details", args=[flying.pk])).content.decode()
    assert "What people did" in details and "Let go (carol)" in details


def test_a_member_may_not_let_go_of_a_teammates_job_set(alice, carol):
    theirs = make_job_set(carol)
    assert client_for(alice).post(reverse("let-go", args=[theirs.pk])).status_code == 404
    assert JobSet.objects.get(pk=theirs.pk).status == Status.WAITING and history(theirs) == []


def test_another_team_may_not_let_go_or_stop_waiting(alice, bob):
    flying = sent(alice)
    for name in ("let-go", "stop-waiting"):
        assert client_for(bob).post(reverse(name, args=[flying.pk])).status_code == 404
    assert JobSet.objects.get(pk=flying.pk).slot_freed_at is None and history(flying) == []


def test_a_waiting_card_says_its_place_why_it_waits_and_when(alice, settings):
    settings.SOUL_MAX_IN_FLIGHT = 1
    now = timezone.now()
    for _ in range(5):  # history: such job sets take about a minute
        done = make_job_set(alice)
        JobSet.objects.filter(pk=done.pk).update(
            status=Status.COMPLETED,
            sent_at=now - timedelta(seconds=90),
            finished_at=now - timedelta(seconds=30),
        )
    timing.forget_typical()  # another test may have left a cached answer
    sent(alice)
    first, second = make_job_set(alice), make_job_set(alice)
    places = local_queue.places([first, second])
    assert (places[first.pk].position, places[second.pk].position) == (1, 2)
    assert "in-flight limit is full" in places[first.pk].reason
    assert places[second.pk].estimate == "in about 2 min"
    html = client_for(alice).get(reverse("card", args=[second.pk])).content.decode()
    assert "2nd in line" in html and "in-flight limit is full" in html


def test_a_paused_team_says_who_paused_it_and_has_no_place_in_line(alice, carol, team_a):
    waiting = make_job_set(alice)
    queue_actions.pause(team_a, carol)
    place = local_queue.places([waiting])[waiting.pk]
    assert place.position is None and "paused by carol" in place.reason
    html = client_for(alice).get(reverse("queue")).content.decode()
    assert "paused by carol" in html


def test_a_paused_gateway_is_the_reason_given_first(alice):
    waiting = make_job_set(alice)
    GatewayState.objects.update_or_create(pk=1, defaults={"paused": True})
    assert "gateway refused" in local_queue.places([waiting])[waiting.pk].reason


def test_a_card_whose_slot_was_freed_says_so(alice, carol):
    stuck, stopped, let_go = sent(alice), sent(alice), sent(alice)
    JobSet.objects.filter(pk=stuck.pk).update(slot_freed_at=timezone.now())
    queue_actions.stop_waiting(stopped, alice)
    queue_actions.let_go(let_go, carol)
    client = client_for(alice)
    assert "Taking unusually long" in client.get(reverse("card", args=[stuck.pk])).content.decode()
    assert "You stopped waiting" in client.get(reverse("card", args=[stopped.pk])).content.decode()
    assert "carol let it go" in client.get(reverse("card", args=[let_go.pk])).content.decode()
