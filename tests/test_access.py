"""Who may see what, teams and accounts, and the account protections.

The action x role table is docs/PERMISSIONS.md, tried cell by cell by test_permissions.py.
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from generations.actions import teams as team_actions
from generations.models import Character, Job, JobSet, Membership, Profile, ReferenceUpload, Team
from generations.queries import teams
from generations.upstream import references
from generations.web.forms import GenerateForm
from tests.factories import make_job_set

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(alice, bob, team_a, django_user_model, settings, media_root):
    settings.SOUL_PUBLIC_URL = "https://soul.example.com"
    carol = django_user_model.objects.create_user("carol", password="carol-password-1")
    team_actions.add_member(team_a, carol, Membership.Role.MANAGER)
    staff = django_user_model.objects.create_user("dave", password="dave-password-1", is_staff=True)
    django_user_model.objects.create_user("erin")
    job_set = make_job_set(alice)
    (media_root / "results").mkdir(exist_ok=True)
    (media_root / "results" / "a.png").write_bytes(b"\x89PNG\r\n")
    job = Job.objects.create(
        job_set=job_set,
        index=0,
        upstream_id="u",
        status="completed",
        image="results/a.png",
        preview="results/a.png",
        raw_url="https://cdn.example/a.png",
    )
    second = Job.objects.create(
        job_set=job_set,
        index=1,
        upstream_id="v",
        status="completed",
        image="results/a.png",
        preview="results/a.png",
    )
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = ReferenceUpload.objects.create(
        team=team_a, user=alice, content_type="image/png", file=SimpleUploadedFile("r.png", b"\x89PNG\r\n")
    )
    return {
        "users": {"member_a": alice, "manager_a": carol, "member_b": bob, "staff": staff},
        "job_set": {"pk": job_set.pk},
        "membership": {"pk": Membership.objects.get(user=alice).pk},
        "character": {
            "pk": Character.objects.create(
                team=team_a, name="Ava", upstream_id=uuid.uuid4(), thumbnail="results/a.png"
            ).pk
        },
        "style": {"pk": "464ea177-8d40-4940-8d9d-b438bab269c7"},
        "image": {"pk": job.pk, "kind": "raw"},
        "image_pk": {"pk": job.pk},
        "bulk_star": {"action": "star", "job": [job.pk], "next": "/"},
        "compare": {"job": [job.pk, second.pk]},
        "reference": {"token": references.public_link(upload).rsplit("/", 2)[-2]},
        "webhook": {"token": job_set.webhook_token},
        "reset": {"uidb64": "MQ", "token": "set-password"},
        "team_a": {"team": team_a.pk},
    }


def test_other_teams_learn_nothing_from_the_gallery_or_the_chip(client, alice, bob):
    make_job_set(alice, prompt="alpha's secret lighthouse", quality="1080p", batch_size=4)
    client.force_login(bob)
    urls = (
        "/",
        "/?view=team",
        f"/?member={alice.pk}",
        "/spend/chip/",
        "/team/",
        "/characters/",
        "/spend/",
        "/spend/?scope=team",
        "/spend/?scope=all",
        "/spend/export.csv?scope=team",
    )
    for url in urls:
        page = client.get(url).content.decode()
        assert "secret lighthouse" not in page and "0.37" not in page, url


def test_admin_is_for_staff_only(client, alice, admin_client):
    client.force_login(alice)
    assert client.get("/admin/").status_code == 302
    assert admin_client.get("/admin/").status_code == 200


def test_media_can_be_handed_to_nginx_after_the_access_check(client, world, settings):
    settings.SOUL_MEDIA_ACCEL_PREFIX = "/protected-media/"
    client.force_login(world["users"]["member_a"])
    response = client.get(reverse("image", kwargs=world["image"]))
    assert response["X-Accel-Redirect"] == "/protected-media/results/a.png"
    assert response.content == b""
    client.force_login(world["users"]["member_b"])
    assert client.get(reverse("image", kwargs=world["image"])).status_code == 404


# --- Teams: managers, switching ------------------------------------------------------------------


def test_a_manager_adds_promotes_and_removes_and_every_change_is_recorded(client, world, django_user_model):
    carol = world["users"]["manager_a"]
    erin = django_user_model.objects.get(username="erin")
    client.force_login(carol)
    client.post("/team/add/", {"who": "erin", "role": "member"})
    membership = Membership.objects.get(user=erin)
    client.post(f"/team/members/{membership.pk}/role/", {"role": "manager"})
    client.post(f"/team/members/{membership.pk}/remove/")
    assert not Membership.objects.filter(user=erin).exists()
    history = list(Membership.history.filter(user_id=erin.pk).order_by("history_date"))
    assert [h.history_type for h in history] == ["+", "~", "-"]
    assert all(h.history_user == carol for h in history)
    assert (history[0].role, history[1].role) == ("member", "manager")


def test_a_manager_invites_someone_new_by_email(client, world, django_user_model):
    client.force_login(world["users"]["manager_a"])
    response = client.post("/team/add/", {"who": "fay@example.com", "role": "member"}, follow=True)
    assert "Invited fay@example.com" in response.content.decode()
    fay = django_user_model.objects.get(email="fay@example.com")
    assert not fay.check_password("") and Membership.objects.filter(user=fay).exists()
    assert len(mail.outbox) == 1 and "carol invited you" in mail.outbox[0].body
    assert "/accounts/reset/" in mail.outbox[0].body


def test_the_only_manager_cannot_demote_or_remove_themselves(client, world):
    carol = world["users"]["manager_a"]
    client.force_login(carol)
    own = Membership.objects.get(user=carol)
    client.post(f"/team/members/{own.pk}/role/", {"role": "member"})
    client.post(f"/team/members/{own.pk}/remove/")
    own.refresh_from_db()
    assert own.role == "manager"


def test_only_whoever_added_a_character_and_the_managers_are_offered_its_remove_button(client, world):
    alice, carol = world["users"]["member_a"], world["users"]["manager_a"]
    team = Membership.objects.get(user=alice).team
    hers = Character.objects.create(team=team, created_by=alice, name="Hers", upstream_id=uuid.uuid4())
    theirs = Character.objects.create(team=team, created_by=carol, name="Theirs", upstream_id=uuid.uuid4())
    client.force_login(alice)
    page = client.get("/characters/").content.decode()
    assert reverse("delete-character", args=[hers.pk]) in page
    assert reverse("delete-character", args=[theirs.pk]) not in page
    assert client.post(reverse("delete-character", args=[theirs.pk])).status_code == 404
    assert Character.objects.filter(pk=theirs.pk).exists()
    client.force_login(carol)
    page = client.get("/characters/").content.decode()
    assert reverse("delete-character", args=[hers.pk]) in page
    assert client.post(reverse("delete-character", args=[hers.pk])).status_code == 302
    assert not Character.objects.filter(pk=hers.pk).exists()


def test_staff_in_a_team_are_offered_what_they_may_do_there(client, world):
    # The views let staff who are plain members run their team; the pages used to offer it only
    # to managers. Both now ask the same rule (queries.access.may_run_team).
    staff = world["users"]["staff"]
    team = Membership.objects.get(user=world["users"]["member_a"]).team
    team_actions.add_member(team, staff)
    client.force_login(staff)
    assert "Save budgets" in client.get("/team/").content.decode()
    spend_page = client.get("/spend/")
    assert spend_page.context["scope"] == "team"
    assert list(spend_page.context["scopes"]) == ["mine", "team", "all"]


def test_the_chosen_team_persists_across_sessions(alice, team_b):
    team_actions.add_member(team_b, alice)
    first = Client()
    first.force_login(alice)
    assert teams.current_team(alice).name == "Alpha"
    first.post("/team/switch/", {"team": team_b.pk, "next": "/"})
    second = Client()
    second.force_login(alice)
    assert "Gallery · Bravo" in second.get("/").content.decode()
    fresh = type(alice).objects.get(pk=alice.pk)  # as a new request would see her
    assert make_job_set(fresh).team == team_b


def test_removed_from_the_chosen_team_you_work_in_your_first_team_and_it_is_remembered(alice, team_b):
    team_actions.add_member(team_b, alice)
    team_actions.switch(alice, team_b.pk)
    Membership.objects.filter(user=alice, team=team_b).delete()
    fresh = type(alice).objects.get(pk=alice.pk)
    assert teams.current_team(fresh).name == "Alpha"
    assert Profile.objects.get(user=alice).current_team.name == "Alpha"


def test_someone_in_no_team_has_no_current_team_and_pages_still_work(client, django_user_model):
    loner = django_user_model.objects.create_user("loner", password="pw-loner-123")
    assert teams.current_team(loner) is None
    client.force_login(loner)
    assert "not in a team" in client.get("/").content.decode()


def test_someone_in_no_team_is_told_before_and_after_sending_and_nothing_is_made(client, django_user_model):
    loner = django_user_model.objects.create_user("loner", password="pw-loner-123")
    client.force_login(loner)
    assert GenerateForm.NO_TEAM in client.get("/").content.decode()
    form = {"prompt": "a fox", "width_and_height": "1536x2048", "quality": "720p", "batch_size": "1"}
    refused = client.post("/generate/", form, HTTP_HX_REQUEST="true")
    assert refused.status_code == 422
    # Said once, as the form's error: the notice above the prompt gives way to it.
    assert refused.content.decode().count(GenerateForm.NO_TEAM) == 1
    assert 'role="alert"' in refused.content.decode()
    assert not JobSet.objects.exists()


def test_switching_to_a_team_you_are_not_in_is_404(client, alice, team_b):
    client.force_login(alice)
    assert client.post("/team/switch/", {"team": team_b.pk}).status_code == 404
    assert client.post("/team/switch/", {"team": "x"}).status_code == 404


def test_operators_script_teams_from_the_command_line(alice, capsys):
    call_command("soul_team", "create", "Gamma")
    call_command("soul_team", "add", "Gamma", "alice", "--manager")
    assert Membership.objects.get(team__name="Gamma", user=alice).role == "manager"
    call_command("soul_team", "list")
    assert "Gamma: alice (manager)" in capsys.readouterr().out
    call_command("soul_team", "remove", "Gamma", "alice")
    assert not Membership.objects.filter(team__name="Gamma").exists()
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="no team called"):
        call_command("soul_team", "add", "Nope", "alice")
    with pytest.raises(CommandError, match="no user"):
        call_command("soul_team", "add", "Gamma", "nobody")
    assert Team.objects.filter(name="Gamma").exists()


# --- Accounts ------------------------------------------------------------------------------------


def login(client: Client, username: str, password: str, address: str = "10.0.0.1"):
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def test_failed_logins_lock_the_account_from_that_address_and_it_unlocks_after_the_cool_off(alice, settings):
    # Locked per (username, address) since issue 20; tests/test_lockout.py has the rest.
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = timedelta(seconds=2)
    client = Client()
    for _ in range(2):
        assert login(client, "alice", "wrong", address="10.0.0.1").status_code == 200
    assert login(client, "alice", "wrong", address="10.0.0.1").status_code == 429  # the third failure locks
    locked = login(client, "alice", "alice-password-1", address="10.0.0.1")
    assert locked.status_code == 429 and "Too many failed logins" in locked.content.decode()
    time.sleep(2.2)
    assert login(client, "alice", "alice-password-1", address="10.0.0.1").status_code == 302


def test_failed_logins_from_one_address_do_not_lock_that_address_for_others(alice, bob, settings):
    settings.AXES_FAILURE_LIMIT = 3
    client = Client()
    for name in ("nobody1", "nobody2", "nobody3"):
        login(client, name, "guess", address="10.9.9.9")
    assert login(client, "bob", "bob-password-1", address="10.9.9.9").status_code == 302


def test_password_reset_sends_a_link_by_email(client, alice):
    alice.email = "alice@example.com"
    alice.save()
    client.post("/accounts/password_reset/", {"email": "alice@example.com"})
    assert len(mail.outbox) == 1 and "/accounts/reset/" in mail.outbox[0].body


# --- Hardening -----------------------------------------------------------------------------------


def test_pages_carry_the_security_headers(client, alice):
    client.force_login(alice)
    response = client.get("/")
    policy = response["Content-Security-Policy"]
    assert (
        "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    )
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert "Strict-Transport-Security" not in response  # plain HTTP here


def test_the_pages_have_no_inline_script_the_policy_would_block(client, alice):
    import re

    client.force_login(alice)
    for url in ("/", "/team/", "/characters/"):
        html = client.get(url).content.decode()
        for tag in re.findall(r"<script[^>]*>", html):
            assert "src=" in tag, (url, tag)
        assert " onclick=" not in html and " onchange=" not in html


def test_errors_show_the_sites_own_page_without_a_stack_trace(client, alice):
    client.force_login(alice)
    response = client.get("/job-sets/999999/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "There is nothing here, or nothing you may see." in html and "Traceback" not in html
    csrf = Client(enforce_csrf_checks=True)
    csrf.force_login(alice)
    refused = csrf.post("/generate/", {"prompt": "x"})
    assert refused.status_code == 403 and "Not allowed" in refused.content.decode()


def test_check_deploy_is_clean_with_production_settings():
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOUL_", "DJANGO_"))}
    env.update(
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY="k" * 30 + "x7#Q!p0zR-2mW9@bL4$nT6&yV8*cJ1^",
        DJANGO_ALLOWED_HOSTS="soul.example.com",
        SOUL_PUBLIC_URL="https://soul.example.com",
        # Production has a key: without one it runs the sandbox, which the deploy check warns about.
        SOUL_API_KEY="a-pixazo-subscription-key",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
