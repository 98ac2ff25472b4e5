"""Errors stand beside the field they are about, in the user's words: never a setting or an API name."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal
from html import unescape

import pytest

from generations.actions import teams as team_actions
from generations.models import Budget, Character, JobSet, Membership
from tests.factories import make_finished
from tests.test_options import FORM_BASE, FORM_CASES

pytestmark = pytest.mark.django_db

# What a person must never be told: the names of settings and of the gateway's parameters.
API_NAMES = re.compile(
    r"SOUL_\w+|\w+_MAX_\w+|width_and_height|image_reference_\w+|custom_reference_\w+|batch_size|style_id"
    r"|style_strength|enhance_prompt|webhook_\w+"
)


def error_text(html: str, error_id: str) -> str:
    """The words of the error drawn with this id (a control points to it with aria-describedby)."""
    found = re.search(rf'<p class="field-error" id="{re.escape(error_id)}"[^>]*>(.*?)</p>', html, re.S)
    assert found, f"no error with id {error_id}"
    return unescape(found.group(1))


def error_beside(html: str, field_id: str) -> str:
    """The words of the error of a Django form's field (``id_prompt`` -> ``id_prompt_error``)."""
    return error_text(html, f"{field_id}_error")


@pytest.fixture
def manager_client(client, alice, team_a, django_user_model):
    carol = django_user_model.objects.create_user("carol", password="carol-password-1")
    team_actions.add_member(team_a, carol, Membership.Role.MANAGER)
    client.force_login(carol)
    return client


refused_cases = [case for case in FORM_CASES if not case[1]]


@pytest.mark.parametrize(("changes", "ok", "field"), refused_cases, ids=lambda v: str(v)[:40])
def test_every_refusal_of_the_generate_form_speaks_of_labels_not_parameter_names(
    client, alice, team_a, changes, ok, field
):
    character = Character.objects.create(team=team_a, name="Ava", upstream_id=uuid.uuid4())
    client.force_login(alice)
    data = {**FORM_BASE, **changes}
    if data.get("custom_reference_id") == "CHARACTER":  # as tests/test_options.py fills it in
        data["custom_reference_id"] = str(character.upstream_id)
    response = client.post("/generate/", data, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    said = error_beside(response.content.decode(), f"id_{field}")
    assert not API_NAMES.search(said), said


def test_the_size_and_style_pickers_point_to_their_errors(client, alice):
    client.force_login(alice)
    data = {**FORM_BASE, "width_and_height": "1000x1000", "style_id": "nope"}
    html = client.post("/generate/", data, HTTP_HX_REQUEST="true").content.decode()
    for field in ("width_and_height", "style_id"):
        assert f'aria-describedby="id_{field}_error"' in html
        assert error_beside(html, f"id_{field}") == "Pick one of the choices shown."


def test_the_upload_help_names_no_setting_when_uploads_are_off(client, alice, settings):
    settings.SOUL_PUBLIC_URL = ""
    client.force_login(alice)
    html = client.get("/").content.decode()
    assert "Uploads are turned off on this site" in html
    assert "SOUL_" not in html


def test_going_over_the_budget_says_what_to_do(client, alice, team_a):
    Budget.objects.create(team=team_a, user=None, monthly_limit=Decimal("0.01"))
    client.force_login(alice)
    response = client.post("/generate/", {**FORM_BASE, "prompt": "a heron"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert "ask a team manager to raise the budget" in unescape(response.content.decode())
    assert not JobSet.objects.exists()


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("lots", "is not an amount of dollars"),
        ("-5", "cannot be negative"),
        ("1e400", "more than this site can count"),
        ("NaN", "is not an amount of dollars"),
        ("Infinity", "is not an amount of dollars"),
        ("99999999999", "more than this site can count"),
        ("12.345", "at most two decimals"),
    ],
)
def test_a_bad_budget_is_refused_beside_its_field_and_saves_no_budget(
    manager_client, alice, team_a, value, words
):
    Budget.objects.create(team=team_a, user=alice, monthly_limit=Decimal("6.00"))
    data = {"team_budget": "25", f"budget_{alice.pk}": value}
    response = manager_client.post("/team/budgets/", data)
    assert response.status_code == 422
    html = response.content.decode()
    assert words in error_beside(html, f"budget_{alice.pk}")
    assert f'aria-describedby="budget_{alice.pk}_error"' in html
    # All or nothing: the good team budget beside it was not saved either.
    assert not Budget.objects.filter(team=team_a, user=None).exists()
    assert Budget.objects.get(user=alice).monthly_limit == Decimal("6.00")


@pytest.mark.parametrize(
    ("value", "saved"), [("0", "0.00"), ("-0", "0.00"), ("$12.5", "12.50"), (" 7 ", "7.00")]
)
def test_an_honest_budget_is_saved(manager_client, team_a, value, saved):
    response = manager_client.post("/team/budgets/", {"team_budget": value})
    assert response.status_code == 302
    assert str(Budget.objects.get(team=team_a, user=None).monthly_limit) == saved
    assert "-0" not in manager_client.get("/team/").content.decode()


def test_the_only_managers_own_demotion_is_refused_beside_their_role(manager_client, team_a):
    own = Membership.objects.get(team=team_a, role=Membership.Role.MANAGER)
    response = manager_client.post(f"/team/members/{own.pk}/role/", {"role": "member"})
    assert response.status_code == 422
    html = response.content.decode()
    assert "make someone else a manager first" in error_text(html, f"role-{own.pk}-error")
    assert f'aria-describedby="role-{own.pk}-error"' in html
    own.refresh_from_db()
    assert own.role == Membership.Role.MANAGER


def test_an_unknown_role_is_refused_beside_that_persons_role(manager_client, alice):
    theirs = Membership.objects.get(user=alice)
    response = manager_client.post(f"/team/members/{theirs.pk}/role/", {"role": "owner"})
    assert response.status_code == 422
    assert error_text(response.content.decode(), f"role-{theirs.pk}-error") == "Pick member or manager."


def test_a_taken_character_name_is_refused_beside_the_name(client, alice, team_a):
    Character.objects.create(team=team_a, name="Ava", upstream_id=uuid.uuid4())
    client.force_login(alice)
    response = client.post("/characters/", {"name": "Ava", "upstream_id": str(uuid.uuid4())})
    assert response.status_code == 422
    assert "choose another name" in error_beside(response.content.decode(), "id_name")


def test_a_taken_character_id_is_refused_beside_the_id(client, alice, team_a):
    taken = uuid.uuid4()
    Character.objects.create(team=team_a, name="Ava", upstream_id=taken)
    client.force_login(alice)
    response = client.post("/characters/", {"name": "Bea", "upstream_id": str(taken)})
    assert response.status_code == 422
    assert "as “Ava”" in error_beside(response.content.decode(), "id_upstream_id")


def test_filing_without_a_collection_says_so_beside_the_collection_picker(client, alice):
    job = make_finished(alice).jobs.get()
    client.force_login(alice)
    response = client.post("/bulk/", {"action": "file", "job": [job.pk], "next": "/"}, follow=True)
    html = response.content.decode()
    assert 'aria-describedby="bulk-collection-error"' in html
    assert error_text(html, "bulk-collection-error") == "Choose a collection, or name a new one."
    assert html.count("Choose a collection, or name a new one.") == 1  # not at the top as well


def test_a_bad_gallery_date_is_said_beside_its_date_field(client, alice):
    client.force_login(alice)
    html = client.get("/?from=2026-13-45&q=fox").content.decode()
    assert 'aria-describedby="f-from-error"' in html
    assert "must look like 2026-11-24" in error_text(html, "f-from-error")
    assert 'value="fox"' in html  # the other filters still apply


def test_a_bad_spend_date_is_said_beside_its_date_field(client, alice):
    client.force_login(alice)
    response = client.get("/spend/?from=2026-13-45&to=2026-02-01")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'aria-describedby="from-error"' in html
    assert "must look like 2026-11-24" in error_text(html, "from-error")
