"""Every documented Soul parameter, checked the same way at the form, in soul.params and at the sandbox."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
import requests

from generations.models import Character, JobSet
from soulwire import params

GENERAL = params.GENERAL_STYLE_ID
SOME_UUID = "3c90c3cc-0d44-4b50-8888-8dd25736052a"
URL_2083 = "https://example.com/" + "a" * (2083 - len("https://example.com/"))
URL_2084 = URL_2083 + "a"

# (name, JSON value, accepted). A value of a pair parameter is sent with its partner (see body_with).
JSON_CASES = [
    ("prompt", "a", True),
    ("prompt", "", False),
    ("prompt", "   ", False),
    *[("width_and_height", size, True) for size in params.SIZES],
    ("width_and_height", "1000x1000", False),
    ("width_and_height", "1536X2048", False),
    ("enhance_prompt", True, True),
    ("enhance_prompt", False, True),
    ("enhance_prompt", "yes", False),
    ("style_id", GENERAL, True),
    ("style_id", "not-a-uuid", False),
    ("style_id", GENERAL[:-1], False),
    *[("style_strength", value, True) for value in (0, 0.0, 0.01, 0.5, 0.99, 1, 1.0)],
    *[("style_strength", value, False) for value in (-0.01, 1.01, 0.555, 2, "0.5", True)],
    ("quality", "720p", True),
    ("quality", "1080p", True),
    ("quality", "4k", False),
    ("quality", "720P", False),
    ("seed", 1, True),
    ("seed", 1_000_000, True),
    *[("seed", value, False) for value in (0, 1_000_001, -5, 1.5, True, "7")],
    ("custom_reference_id", SOME_UUID, True),
    ("custom_reference_id", "xyz", False),
    *[("custom_reference_strength", value, True) for value in (0, 0.01, 1)],
    *[("custom_reference_strength", value, False) for value in (-0.01, 1.01, 0.125)],
    ("image_reference_image_url", "https://example.com/ref.png", True),
    ("image_reference_image_url", URL_2083, True),
    ("image_reference_image_url", URL_2084, False),
    ("image_reference_image_url", "", False),
    ("image_reference_image_url", "ftp://example.com/ref.png", False),
    ("image_reference_type", "url", False),
    ("only image_reference_type", "image_url", False),
    ("only image_reference_image_url", "https://example.com/ref.png", False),
    ("batch_size", 1, True),
    ("batch_size", 4, True),
    *[("batch_size", value, False) for value in (2, 0, "4", 4.0, True)],
    ("webhook_url", "https://example.com/hook", True),
    ("only webhook_url", "https://example.com/hook", False),
]


def body_with(name: str, value) -> dict:
    body = {"prompt": "a fox", "width_and_height": "1536x2048", "quality": "720p", "batch_size": 1}
    if name == "only image_reference_type":
        body["image_reference_type"] = value
    elif name == "only image_reference_image_url":
        body["image_reference_image_url"] = value
    elif name == "only webhook_url":
        body["webhook_url"] = value
    elif name == "image_reference_image_url":
        body.update(image_reference_type="image_url", image_reference_image_url=value)
    elif name == "image_reference_type":
        body.update(image_reference_type=value, image_reference_image_url="https://example.com/ref.png")
    elif name == "webhook_url":
        body.update(webhook_url=value, webhook_secret="whsec_abc")
    else:
        body[name] = value
    return body


def case_id(case) -> str:
    name, value, ok = case
    return f"{name}={str(value)[:20]!s}-{'ok' if ok else 'refused'}"


@pytest.mark.parametrize("case", JSON_CASES, ids=case_id)
def test_the_contract_accepts_and_refuses_each_value(case):
    name, value, ok = case
    errors = params.validate(body_with(name, value))
    assert (not errors) is ok, errors


@pytest.mark.parametrize("case", JSON_CASES, ids=case_id)
def test_the_sandbox_accepts_and_refuses_each_value_like_the_contract(case, sandbox, sandbox_stats):
    name, value, ok = case
    before = sandbox_stats()["job_sets"]
    response = requests.post(
        f"{sandbox.url}/ai-model-api/v1/generateSoul",
        json=body_with(name, value),
        headers={"Ocp-Apim-Subscription-Key": "k"},
        timeout=5,
    )
    assert response.status_code == (200 if ok else 400), response.text
    if ok:
        applied = response.json()["input_params"]
        if name in ("seed", "quality", "batch_size", "enhance_prompt"):
            assert applied[name] == value
    else:
        assert "error" in response.json()
        assert sandbox_stats()["job_sets"] == before


# --- The form ------------------------------------------------------------------------

FORM_BASE = {
    "prompt": "a fox",
    "width_and_height": "1536x2048",
    "quality": "720p",
    "batch_size": "1",
    "style_id": GENERAL,
    "style_strength": "1.00",
}

# (field values to change, accepted, field the error must stand beside)
FORM_CASES = [
    ({"prompt": ""}, False, "prompt"),
    ({"prompt": "  "}, False, "prompt"),
    *[({"width_and_height": size}, True, None) for size in params.SIZES],
    ({"width_and_height": "1000x1000"}, False, "width_and_height"),
    ({"enhance_prompt": "on"}, True, None),
    ({"style_id": ""}, True, None),
    ({"style_id": str(uuid.uuid4())}, False, "style_id"),
    ({"style_id": "nope"}, False, "style_id"),
    *[({"style_strength": value}, True, None) for value in ("0", "0.01", "0.5", "1")],
    *[({"style_strength": value}, False, "style_strength") for value in ("-0.01", "1.01", "0.555", "x")],
    ({"quality": "1080p"}, True, None),
    ({"quality": "4k"}, False, "quality"),
    ({"batch_size": "4"}, True, None),
    ({"batch_size": "2"}, False, "batch_size"),
    ({"seed": "1"}, True, None),
    ({"seed": "1000000"}, True, None),
    *[({"seed": value}, False, "seed") for value in ("0", "1000001", "-5", "1.5", "abc")],
    ({"custom_reference_id": "CHARACTER"}, True, None),
    ({"custom_reference_id": "CHARACTER", "custom_reference_strength": "0.01"}, True, None),
    (
        {"custom_reference_id": "CHARACTER", "custom_reference_strength": "1.01"},
        False,
        "custom_reference_strength",
    ),
    ({"custom_reference_id": SOME_UUID}, False, "custom_reference_id"),  # not one of the team's characters
    ({"image_reference_type": "image_url", "image_reference_image_url": "https://e.com/r.png"}, True, None),
    ({"image_reference_type": "image_url", "image_reference_image_url": URL_2083}, True, None),
    (
        {"image_reference_type": "image_url", "image_reference_image_url": URL_2084},
        False,
        "image_reference_image_url",
    ),
    (
        {"image_reference_type": "image_url", "image_reference_image_url": "not a url"},
        False,
        "image_reference_image_url",
    ),
    ({"image_reference_type": "image_url"}, False, "image_reference_image_url"),
    ({"image_reference_image_url": "https://e.com/r.png"}, False, "image_reference_type"),
    (
        {"image_reference_type": "url", "image_reference_image_url": "https://e.com/r.png"},
        False,
        "image_reference_type",
    ),
]


@pytest.fixture
def character(alice, team_a):
    return Character.objects.create(team=team_a, name="Ava", upstream_id=uuid.uuid4())


def expected_in_payload(name: str, value: str):
    """What the request body carries for a form value."""
    if name == "enhance_prompt":
        return value == "on"
    if name in ("seed", "batch_size"):
        return int(value)
    if name.endswith("strength"):
        return float(value)
    return value or None


@pytest.mark.django_db
@pytest.mark.parametrize(("changes", "ok", "field"), FORM_CASES, ids=lambda v: str(v)[:40])
def test_the_form_accepts_and_refuses_each_value_beside_its_field(
    client, alice, character, sandbox_stats, changes, ok, field
):
    client.force_login(alice)
    data = {**FORM_BASE, **changes}
    if data.get("custom_reference_id") == "CHARACTER":
        data["custom_reference_id"] = str(character.upstream_id)
    before = sandbox_stats()
    response = client.post("/generate/", data, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    if ok:
        assert response.status_code == 200, html[:2000]
        job_set = JobSet.objects.get()
        sent = job_set.soul_request().parameters()
        for name in changes:
            assert sent.get(name) == expected_in_payload(name, data[name]), (name, sent)
        if "custom_reference_id" in changes:
            assert job_set.character == character
    else:
        assert response.status_code == 422
        assert f'id="id_{field}_error"' in html, html[:3000]
        assert not JobSet.objects.exists()
    after = sandbox_stats()
    assert (after["submits_accepted"], after["submits_rejected"]) == (
        before["submits_accepted"],
        before["submits_rejected"],
    )


@pytest.mark.django_db
def test_the_webhook_fields_are_not_on_the_form(client, alice):
    client.force_login(alice)
    html = client.get("/").content.decode()
    assert 'name="webhook_url"' not in html and 'name="webhook_secret"' not in html
    client.post(
        "/generate/", {**FORM_BASE, "webhook_url": "https://evil.example/hook", "webhook_secret": "x"}
    )
    assert "webhook_url" not in JobSet.objects.get().soul_request().parameters()


@pytest.mark.django_db
def test_style_id_is_sent_under_its_documented_name(alice):
    from tests.factories import make_job_set

    job_set = make_job_set(alice, style_id=params.GENERAL_STYLE_ID)
    body = job_set.soul_request().parameters()
    assert body["style_id"] == params.GENERAL_STYLE_ID and "soul_style_id" not in body


@pytest.mark.django_db
def test_a_stored_job_set_gives_back_the_request_it_was_made_from(alice, team_a):
    from generations.actions import jobsets
    from generations.models import SoulRequest

    character = Character.objects.create(team=team_a, name="Ava", upstream_id=uuid.uuid4())
    asked = SoulRequest(
        prompt="a fox",
        width_and_height="2048x1152",
        quality="1080p",
        batch_size=4,
        seed=7,
        enhance_prompt=True,
        style_id=GENERAL,
        style_strength=Decimal("0.42"),
        custom_reference_id=str(character.upstream_id),
        character_id=character.pk,
        custom_reference_strength=Decimal("0.33"),
        image_reference_type="image_url",
        image_reference_image_url="https://example.com/ref.png",
    )
    job_set = jobsets.create(alice, team_a, asked)
    assert JobSet.objects.get(pk=job_set.pk).soul_request() == asked
    assert job_set.price == asked.price()
    assert not params.validate(asked.parameters())
