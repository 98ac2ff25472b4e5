"""Working in several teams, and a manager running their team from soulsite's own pages."""

from __future__ import annotations

from playwright.sync_api import expect

from generations.actions import teams
from generations.models import Membership
from tests.factories import make_job_set


def test_the_team_switcher_changes_the_gallery_and_remembers(logged_in, live_server, alice, team_b):
    teams.add_member(team_b, alice)
    make_job_set(alice, prompt="made for alpha")
    page = logged_in
    page.reload()
    expect(page.get_by_role("heading", name="Gallery · Alpha")).to_be_visible()
    expect(page.locator("article.card")).to_contain_text("made for alpha")

    page.get_by_label("Team you work in").select_option(label="Bravo")
    expect(page.get_by_role("heading", name="Gallery · Bravo")).to_be_visible()
    expect(page.locator("article.card")).to_have_count(0)

    # Nothing of the old page may still be on its way: a late answer would set a CSRF cookie of
    # its own after the login page had set the one its form's token belongs to.
    page.wait_for_load_state("networkidle")
    page.context.clear_cookies()
    page.goto(f"{live_server.url}/accounts/login/")
    page.wait_for_load_state("networkidle")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("alice-password-1")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Gallery · Bravo")).to_be_visible()  # the choice persisted


def test_a_manager_adds_a_member_and_makes_them_a_manager(page, live_server, team_a, django_user_model):
    carol = django_user_model.objects.create_user("carol", password="carol-password-1")
    teams.add_member(team_a, carol, Membership.Role.MANAGER)
    django_user_model.objects.create_user("erin", password="erin-password-1")
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("carol")
    page.get_by_label("Password").fill("carol-password-1")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Team", exact=True).click()

    page.get_by_label("Username or email").fill("erin")
    page.get_by_role("button", name="Add to Alpha").click()
    expect(page.get_by_text("erin is now a member of Alpha")).to_be_visible()
    row = page.get_by_role("row", name="erin")
    row.get_by_label("Role of erin").select_option("manager")
    row.get_by_role("button", name="Change").click()
    expect(page.get_by_text("erin is now a manager")).to_be_visible()
    assert Membership.objects.get(user__username="erin").role == "manager"
