"""The queue's controls from the page, in Chromium, at 1440 wide and on a 390-px phone (issue 21):
cancel, stop waiting, clear mine, pause, resume and let go, each checked on the page and in the database."""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from generations.actions import queue as queue_actions
from generations.actions import teams
from generations.models import Attempt, JobSet, Membership
from tests.conftest import ARTIFACTS
from tests.factories import make_job_set

VIEWPORTS = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}
viewports = pytest.mark.parametrize("viewport", list(VIEWPORTS), ids=list(VIEWPORTS))


@pytest.fixture
def carol(django_user_model, team_a):
    user = django_user_model.objects.create_user("carol", password="carol-password-1")
    teams.add_member(team_a, user, Membership.Role.MANAGER)
    return user


def open_queue(page, live_server, viewport: str, username: str):
    page.set_viewport_size(VIEWPORTS[viewport])
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(f"{username}-password-1")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/queue/")
    return page


def fits(page) -> None:
    """No sideways scrolling, and every button of the queue at least 24 px each way."""
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    for box in page.locator("#queue-body button").evaluate_all(
        "els => els.map(e => e.getBoundingClientRect()).map(r => [r.width, r.height])"
    ):
        assert box[0] >= 24 and box[1] >= 24, box


def sent(user, prompt: str) -> JobSet:
    job_set = make_job_set(user, prompt=prompt)
    JobSet.objects.filter(pk=job_set.pk).update(
        status=JobSet.Status.IN_PROGRESS, sent_at=timezone.now(), upstream_id=f"up-{job_set.pk}"
    )
    return job_set


def queue_history(job_set: JobSet) -> list[str]:
    return list(job_set.attempts.filter(kind=Attempt.Kind.QUEUE).values_list("asked", flat=True))


@viewports
def test_a_person_cancels_their_waiting_job_set_from_the_queue(page, live_server, alice, viewport):
    waiting = make_job_set(alice, prompt="a lighthouse at dusk")
    page = open_queue(page, live_server, viewport, "alice")
    expect(page.locator("#queue-body")).to_contain_text("1st")
    fits(page)
    page.get_by_role("button", name="Cancel “a lighthouse at dusk”").click()
    expect(page.get_by_text("Nothing waiting.")).to_be_visible()
    assert JobSet.objects.get(pk=waiting.pk).status == JobSet.Status.CANCELED
    assert queue_history(waiting) == ["cancel (alice)"]


@viewports
def test_a_person_stops_waiting_for_a_sent_job_set(page, live_server, alice, viewport):
    flying = sent(alice, "a fox in the snow")
    page = open_queue(page, live_server, viewport, "alice")
    page.get_by_role("button", name="Stop waiting for “a fox in the snow”").click()
    expect(page.get_by_text("You stopped waiting for this one")).to_be_visible()
    fits(page)
    flying.refresh_from_db()
    assert flying.slot_freed_by == alice and flying.status == JobSet.Status.IN_PROGRESS
    assert queue_history(flying) == ["stop waiting (alice)"]


@viewports
def test_a_person_clears_all_their_waiting_job_sets_in_one_click(page, live_server, alice, carol, viewport):
    mine = [make_job_set(alice, prompt=f"mine {n}") for n in range(3)]
    theirs = make_job_set(carol, prompt="carol's")
    page = open_queue(page, live_server, viewport, "alice")
    page.once("dialog", lambda dialog: dialog.accept() if "all 3" in dialog.message else dialog.dismiss())
    page.get_by_role("button", name="Clear mine (3)").click()
    expect(page.get_by_text("Canceled 3 waiting job sets of yours")).to_be_visible()
    fits(page)
    assert {JobSet.objects.get(pk=js.pk).status for js in mine} == {JobSet.Status.CANCELED}
    assert JobSet.objects.get(pk=theirs.pk).status == JobSet.Status.WAITING


@viewports
def test_a_manager_pauses_the_team_queue(page, live_server, alice, carol, team_a, viewport):
    make_job_set(alice, prompt="waits through the pause")
    page = open_queue(page, live_server, viewport, "carol")
    page.get_by_role("button", name="Pause queue").click()
    expect(page.locator(".queue-paused")).to_contain_text("paused by carol")
    expect(page.locator(".why").first).to_contain_text("paused by carol")
    fits(page)
    team_a.refresh_from_db()
    assert team_a.queue_paused_by == carol


@viewports
def test_a_manager_resumes_the_team_queue(page, live_server, alice, carol, team_a, viewport):
    make_job_set(alice, prompt="waits for the resume")
    queue_actions.pause(team_a, carol)
    page = open_queue(page, live_server, viewport, "carol")
    page.get_by_role("button", name="Resume queue").click()
    expect(page.get_by_role("button", name="Pause queue")).to_be_visible()
    expect(page.locator(".queue-paused")).to_have_count(0)
    fits(page)
    team_a.refresh_from_db()
    assert team_a.queue_paused_at is None


@viewports
def test_a_manager_lets_go_of_a_teammates_job_sets(page, live_server, alice, carol, viewport):
    waiting = make_job_set(alice, prompt="alice waits")
    flying = sent(alice, "alice is sent")
    page = open_queue(page, live_server, viewport, "carol")
    page.get_by_role("button", name="Let go of alice’s “alice waits”").click()
    expect(page.get_by_text("Nothing waiting.")).to_be_visible()
    page.get_by_role("button", name="Let go of alice’s “alice is sent”").click()
    expect(page.get_by_text("You let it go")).to_be_visible()
    fits(page)
    assert JobSet.objects.get(pk=waiting.pk).status == JobSet.Status.CANCELED
    assert JobSet.objects.get(pk=flying.pk).slot_freed_by == carol
    assert queue_history(waiting) == ["cancel (carol)"] and queue_history(flying) == ["let go (carol)"]


@viewports
def test_the_queue_page_shows_waiting_sent_and_paused(page, live_server, alice, carol, viewport, settings):
    """Pictures of the page in its three states, for a person to look at (test-artifacts)."""
    settings.SOUL_MAX_IN_FLIGHT = 1
    for n in range(3):
        make_job_set(alice, prompt=f"a harbour at dawn, take {n}")
    make_job_set(carol, prompt="a city in the rain")
    sent(alice, "a fox in the snow")
    stopped = sent(carol, "an owl at night")
    queue_actions.stop_waiting(stopped, carol)
    page = open_queue(page, live_server, viewport, "carol")
    expect(page.locator("#queue-body")).to_contain_text("in-flight limit")
    fits(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"queue-waiting-sent-{viewport}.png"), full_page=True)
    page.get_by_role("button", name="Pause queue").click()
    expect(page.locator(".queue-paused")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / f"queue-paused-{viewport}.png"), full_page=True)
