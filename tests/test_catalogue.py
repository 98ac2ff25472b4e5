"""Styles (offline catalogue and sync), characters, uploaded references, and "use these settings"."""

from __future__ import annotations

import io
import os
import re
import uuid

import pytest
from django.core.management import call_command
from django.urls import reverse
from PIL import Image

from generations.lifecycle import send
from generations.models import Character, JobSet, ReferenceUpload, Style
from generations.upstream import references
from soulwire import params
from tests.factories import make_job_set

pytestmark = pytest.mark.django_db


def png_bytes(size=(64, 48), color=(200, 40, 90)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def noise_png(side=700) -> bytes:
    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(buffer, "PNG")
    return buffer.getvalue()


def upload_file(name="ref.png", content=None, content_type="image/png"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(
        name, content if content is not None else png_bytes(), content_type=content_type
    )


# --- Styles ---------------------------------------------------------------------------------


def test_the_known_styles_ship_with_previews_that_work_offline(client, alice):
    client.force_login(alice)
    assert Style.objects.filter(is_active=True).count() == 12
    html = client.get("/").content.decode()
    for style in Style.objects.all():
        assert style.name in html
        preview = client.get(reverse("style-preview", args=[style.pk]), follow=True)
        assert preview.status_code == 200
        assert b"".join(preview.streaming_content).startswith(b"\x89PNG")


@pytest.mark.django_db(transaction=True)
def test_syncing_adds_updates_and_deactivates_styles_and_stores_previews(alice, media_root):
    gone = Style.objects.create(id=uuid.uuid4(), name="Retired look", is_active=True)
    old_job_set = make_job_set(alice, style=gone)
    Style.objects.filter(name="Realistic").update(name="Old name", description="")

    call_command("soul_sync_styles", stdout=io.StringIO())

    gone.refresh_from_db()
    assert not gone.is_active  # deactivated, not deleted
    assert JobSet.objects.get(pk=old_job_set.pk).style.name == "Retired look"
    realistic = Style.objects.get(pk="1cb4b936-77bf-4f9a-9039-f3d349a4cdbe")
    assert realistic.name == "Realistic" and realistic.description
    assert realistic.preview and (media_root / realistic.preview.name).exists()
    assert realistic.preview_url.startswith("http://127.0.0.1")
    assert Style.objects.filter(is_active=True).count() == 12


def test_admins_sync_styles_from_the_list(admin_client):
    response = admin_client.post(reverse("admin:generations_style_sync"), follow=True)
    assert "Styles synced" in response.content.decode()


def test_a_failed_sync_says_why_and_changes_nothing(admin_client, settings):
    from generations.upstream import client as soul_client
    from tests.servers import closed_port_url

    settings.SOUL_API_BASE_URL = closed_port_url()
    soul_client.reset_client()
    response = admin_client.post(reverse("admin:generations_style_sync"), follow=True)
    assert "Could not sync styles" in response.content.decode()
    assert Style.objects.filter(is_active=True).count() == 12


def test_an_inactive_style_is_not_offered(client, alice):
    client.force_login(alice)
    Style.objects.filter(name="Medieval").update(is_active=False)
    medieval = Style.objects.get(name="Medieval")
    html = client.get("/").content.decode()
    assert f'name="style_id" value="{medieval.pk}"' not in html  # not on the form
    assert f'<option value="{medieval.pk}">Medieval</option>' in html  # still a filter: old images have it


# --- Characters -----------------------------------------------------------------------------


def test_a_member_saves_a_character_and_picks_it_by_name(client, alice, team_a):
    client.force_login(alice)
    character_id = uuid.uuid4()
    response = client.post("/characters/", {"name": "Ava", "upstream_id": str(character_id)})
    assert response.status_code == 302
    character = Character.objects.get()
    assert (character.team, character.created_by, character.upstream_id) == (team_a, alice, character_id)
    html = client.get("/").content.decode()
    assert f'<option value="{character_id}">Ava</option>' in html

    duplicate = client.post("/characters/", {"name": "Ava", "upstream_id": str(uuid.uuid4())})
    assert "already has a character" in duplicate.content.decode()
    bad = client.post("/characters/", {"name": "Bea", "upstream_id": "not-a-uuid"})
    assert "valid UUID" in bad.content.decode()
    assert Character.objects.count() == 1


def test_other_teams_never_see_or_remove_a_character(client, alice, bob, team_a):
    character = Character.objects.create(team=team_a, name="Secret Sam", upstream_id=uuid.uuid4())
    client.force_login(bob)
    assert "Secret Sam" not in client.get("/characters/").content.decode()
    assert "Secret Sam" not in client.get("/").content.decode()
    assert client.post(f"/characters/{character.pk}/delete/").status_code == 404
    response = client.post(
        "/generate/",
        {
            "prompt": "x",
            "width_and_height": "1536x2048",
            "quality": "720p",
            "batch_size": "1",
            "custom_reference_id": str(character.upstream_id),
        },
    )
    assert response.status_code == 422 and not JobSet.objects.exists()
    assert Character.objects.filter(pk=character.pk).exists()


# --- Uploaded references ----------------------------------------------------------------------

FORM = {
    "prompt": "with a reference",
    "width_and_height": "1536x2048",
    "quality": "720p",
    "batch_size": "1",
    "image_reference_type": "image_url",
}


def test_uploads_are_refused_with_a_reason_without_a_public_url(client, alice, settings):
    settings.SOUL_PUBLIC_URL = ""
    client.force_login(alice)
    response = client.post(
        "/generate/", {**FORM, "image_reference_upload": upload_file()}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 422
    assert "Uploads are turned off on this site" in response.content.decode()
    assert not ReferenceUpload.objects.exists() and not JobSet.objects.exists()


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (lambda: upload_file("notes.png", b"not an image at all"), "not a picture soulsite can read"),
        (lambda: upload_file("big.png", noise_png()), "a picture can be at most 1 MB"),
    ],
)
def test_bad_uploads_are_refused_and_nothing_is_stored(client, alice, settings, upload, message):
    settings.SOUL_PUBLIC_URL = "https://soul.example.com"
    settings.SOUL_UPLOAD_MAX_BYTES = 1024 * 1024
    client.force_login(alice)
    response = client.post("/generate/", {**FORM, "image_reference_upload": upload()}, HTTP_HX_REQUEST="true")
    assert response.status_code == 422 and message in response.content.decode()
    assert not ReferenceUpload.objects.exists() and not JobSet.objects.exists()


def test_an_upload_goes_upstream_as_a_signed_link_that_serves_only_that_file_until_it_expires(
    client, alice, settings
):
    settings.SOUL_PUBLIC_URL = "https://soul.example.com"
    client.force_login(alice)
    image = png_bytes()
    response = client.post("/generate/", {**FORM, "image_reference_upload": upload_file(content=image)})
    assert response.status_code == 302
    job_set = JobSet.objects.get()
    assert job_set.reference_upload and job_set.image_reference_image_url == ""

    body = send.request_body(job_set)
    assert body["image_reference_type"] == "image_url"
    link = body["image_reference_image_url"]
    assert link.startswith("https://soul.example.com/references/") and not params.validate(body)
    path = link.removeprefix("https://soul.example.com")

    client.logout()  # the gateway has no login
    served = client.get(path)
    assert served.status_code == 200 and b"".join(served.streaming_content) == image
    assert served["Content-Type"] == "image/png"
    other = ReferenceUpload.objects.create(
        team=job_set.team, user=alice, file=upload_file("b.png"), content_type="image/png"
    )
    assert client.get(path.replace(str(job_set.reference_upload.key), str(other.key))).status_code == 404
    assert client.get(path[:-3] + "xx/").status_code == 404

    settings.SOUL_REFERENCE_LINK_SECONDS = -1
    assert client.get(path).status_code == 404
    assert references.resolve(path.split("/")[2]) is None


def test_the_form_keeps_an_uploaded_reference_for_the_next_request_until_it_is_removed(
    client, alice, settings
):
    settings.SOUL_PUBLIC_URL = "https://soul.example.com"
    client.force_login(alice)
    first = client.post(
        "/generate/", {**FORM, "image_reference_upload": upload_file()}, HTTP_HX_REQUEST="true"
    )
    assert first.status_code == 200
    upload = ReferenceUpload.objects.get()
    answer = first.content.decode()
    # The next form carries the upload by its key and says so, with a way to drop it.
    assert re.search(rf'name="reference_upload_key" value="{upload.key}"', answer)
    assert "data-drop-reference" in answer
    again = client.post(
        "/generate/",
        {**FORM, "prompt": "a second take", "reference_upload_key": str(upload.key)},
        HTTP_HX_REQUEST="true",
    )
    assert again.status_code == 200
    second = JobSet.objects.get(prompt="a second take")
    assert second.reference_upload == upload and ReferenceUpload.objects.count() == 1
    # Removed (the key emptied, the kind set to none): the next request has no reference.
    plain = {**FORM, "prompt": "no reference now", "image_reference_type": "", "reference_upload_key": ""}
    assert client.post("/generate/", plain, HTTP_HX_REQUEST="true").status_code == 200
    third = JobSet.objects.get(prompt="no reference now")
    assert third.reference_upload is None and not third.soul_request().image_reference_type
    assert "data-drop-reference" not in client.get("/").content.decode()


# --- Use these settings ----------------------------------------------------------------------


def test_use_these_settings_fills_the_form_with_every_parameter_without_submitting(client, alice, team_a):
    character = Character.objects.create(team=team_a, name="Ava", upstream_id=uuid.uuid4())
    realistic = Style.objects.get(name="Realistic")
    job_set = make_job_set(
        alice,
        prompt="the same again",
        width_and_height="2048x1152",
        quality="1080p",
        batch_size=4,
        seed=777,
        enhance_prompt=True,
        style=realistic,
        style_strength="0.42",
        custom_reference_id=character.upstream_id,
        character=character,
        custom_reference_strength="0.33",
        image_reference_image_url="https://e.com/r.png",
    )
    client.force_login(alice)
    html = client.get(f"/job-sets/{job_set.pk}/reuse/?seed=keep", HTTP_HX_REQUEST="true").content.decode()
    assert re.search(r'name="prompt"[^>]*>\s*the same again</textarea>', html)
    for name, value in [
        ("width_and_height", "2048x1152"),
        ("quality", "1080p"),
        ("batch_size", "4"),
        ("style_id", str(realistic.pk)),
    ]:
        assert re.search(f'name="{name}" value="{value}"[^>]* checked', html), name
    for name, value in [
        ("seed", "777"),
        ("style_strength", "0.42"),
        ("custom_reference_strength", "0.33"),
        ("image_reference_image_url", "https://e.com/r.png"),
    ]:
        assert re.search(f'name="{name}" value="{value}"', html), name
    assert f'<option value="{character.upstream_id}" selected>Ava</option>' in html
    assert re.search(r'name="enhance_prompt"[^>]* checked', html)
    assert (
        "· seed 777 · enhance prompt · character Ava · image reference" in html
    )  # folded, yet nothing hidden
    assert JobSet.objects.count() == 1

    fresh = client.get(f"/job-sets/{job_set.pk}/reuse/?seed=new", HTTP_HX_REQUEST="true").content.decode()
    assert 'name="seed" value="777"' not in fresh


def test_nobody_reuses_another_teams_settings(client, alice, bob):
    job_set = make_job_set(alice)
    client.force_login(bob)
    assert client.get(f"/job-sets/{job_set.pk}/reuse/").status_code == 404
    assert client.get(f"/job-sets/{job_set.pk}/").status_code == 404
