"""Limits enforced where the data comes in: the prompt's length, a picture's bytes and pixels, a
request's size; what is over one is refused in words, beside its field or on the "too large" page,
and nothing is stored or sent."""

from __future__ import annotations

import io
import re
import struct
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from generations.models import Character, JobSet, ReferenceUpload
from soulwire import params
from tests.factories import make_job_set, png

pytestmark = pytest.mark.django_db

CHARACTER_ID = "3c90c3cc-0d44-4b50-8888-8dd25736052a"
MB = 1024 * 1024


def field_error(html: str, field: str) -> str:
    match = re.search(rf'<p class="field-error" id="id_{field}_error">(.*?)</p>', html, re.S)
    assert match, f"no error beside {field}"
    return match.group(1)


def generate(client, **fields):
    data = {"prompt": "a lighthouse", "width_and_height": "1536x2048", "quality": "720p", "batch_size": "1"}
    return client.post("/generate/", {**data, **fields})


def png_bomb(width: int, height: int) -> bytes:
    """A PNG of a few dozen bytes whose header claims ``width`` x ``height`` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def jpeg(size=(64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(buffer, "JPEG")
    return buffer.getvalue()


# --- The prompt ------------------------------------------------------------------------------------


def test_a_prompt_over_the_limit_is_refused_beside_the_field_in_words_and_nothing_is_stored(
    client, alice, sandbox_stats
):
    client.force_login(alice)
    sent_before = sandbox_stats()["submits_accepted"]
    refused = generate(client, prompt="a" * (params.PROMPT_MAX_LENGTH + 1))
    assert refused.status_code == 422
    assert field_error(refused.content.decode(), "prompt") == (
        "A prompt can be at most 2,000 characters; this one has 2,001."
    )
    assert not JobSet.objects.exists()
    assert sandbox_stats()["submits_accepted"] == sent_before


def test_a_prompt_of_exactly_the_limit_is_accepted_and_its_line_breaks_count_once(client, alice):
    client.force_login(alice)
    # The browser sends CR LF for each line break it counted as one character.
    prompt = ("a" * 99 + "\r\n") * 19 + "a" * (params.PROMPT_MAX_LENGTH - 19 * 100)
    assert generate(client, prompt=prompt).status_code == 302
    assert len(JobSet.objects.get().prompt) == params.PROMPT_MAX_LENGTH


def test_the_prompt_box_stops_typing_at_the_limit(client, alice):
    client.force_login(alice)
    html = client.get("/").content.decode()
    textarea = re.search(r"<textarea[^>]*name=\"prompt\"[^>]*>", html).group(0)
    assert f'maxlength="{params.PROMPT_MAX_LENGTH}"' in textarea


def test_a_million_character_prompt_gets_the_too_large_page_and_nothing_is_stored_or_sent(
    client, alice, sandbox_stats
):
    client.force_login(alice)
    sent_before = sandbox_stats()["submits_accepted"]
    refused = generate(client, prompt="a" * 1_000_000)
    assert refused.status_code == 413
    page = refused.content.decode()
    assert "Too large to send" in page and "nothing was saved or sent" in page
    assert "a prompt: at most 2,000 characters" in page
    assert "a picture: at most 10 MB and 50 megapixels" in page
    assert not JobSet.objects.exists()
    assert sandbox_stats()["submits_accepted"] == sent_before


def test_an_htmx_request_too_large_gets_a_short_note_to_show_in_place(client, alice):
    client.force_login(alice)
    refused = client.post(
        "/generate/", {"prompt": "a" * 1_000_000, "width_and_height": "1536x2048"}, HTTP_HX_REQUEST="true"
    )
    assert refused.status_code == 413 and refused["HX-Reswap"] == "afterbegin"
    note = refused.content.decode()
    assert note.startswith('<p class="form-error" role="alert">') and "<html" not in note
    assert "A picture: at most 10 MB and 50 megapixels" in note and "at most 2,000 characters" in note


def test_a_long_prompt_stored_before_the_limit_is_shown_cut_not_whole(client, alice):
    # Job sets made before the limit may hold anything; no page prints a megabyte of prompt.
    job_set = make_job_set(alice, prompt="word " * 200_000)
    client.force_login(alice)
    for path in ("/", f"/job-sets/{job_set.pk}/"):
        response = client.get(path)
        assert response.status_code == 200
        assert len(response.content) < 200_000, path


# --- Pictures ----------------------------------------------------------------------------------------


def add_character(client, picture: bytes, name: str = "pic.png"):
    upload = SimpleUploadedFile(name, picture, content_type="image/png")
    return client.post("/characters/", {"name": "Ada", "upstream_id": CHARACTER_ID, "thumbnail": upload})


def test_a_character_picture_over_the_byte_limit_is_refused_beside_the_field(client, alice):
    client.force_login(alice)
    refused = add_character(client, png() + b"\0" * (12 * MB))
    assert refused.status_code == 422  # the form again, with its errors
    assert field_error(refused.content.decode(), "thumbnail") == (
        "This picture is 12.0 MB; a picture can be at most 10 MB. "
        "Save it smaller (a JPEG is usually much smaller) and upload it again."
    )
    assert not Character.objects.exists()


@pytest.mark.parametrize("size", [(10_000, 6_000), (100_000, 100_000)], ids=["over-the-limit", "bomb"])
def test_a_character_picture_with_too_many_pixels_is_refused_beside_the_field(client, alice, size):
    client.force_login(alice)
    refused = add_character(client, png_bomb(*size))
    assert refused.status_code == 422
    assert "This picture has too many pixels; a picture can have at most 50 megapixels" in field_error(
        refused.content.decode(), "thumbnail"
    )
    assert not Character.objects.exists()


def test_a_sixty_megabyte_character_picture_gets_the_too_large_page(client, alice):
    client.force_login(alice)
    refused = add_character(client, png() + b"\0" * (60 * MB))
    assert refused.status_code == 413 and "a picture: at most 10 MB" in refused.content.decode()
    assert not Character.objects.exists()


def test_a_good_character_picture_is_kept(client, alice):
    client.force_login(alice)
    assert add_character(client, jpeg(), name="ada.jpg").status_code == 302
    assert Character.objects.get().thumbnail


@pytest.fixture
def uploads_on(settings):
    settings.SOUL_PUBLIC_URL = "https://soul.example.com"


def upload_reference(client, picture: bytes):
    upload = SimpleUploadedFile("ref.png", picture, content_type="image/png")
    return generate(client, image_reference_type="image_url", image_reference_upload=upload)


@pytest.mark.parametrize("size", [(10_000, 6_000), (100_000, 100_000)], ids=["over-the-limit", "bomb"])
def test_a_reference_picture_with_too_many_pixels_is_refused_beside_the_field(
    client, alice, uploads_on, size
):
    client.force_login(alice)
    refused = upload_reference(client, png_bomb(*size))
    assert refused.status_code == 422
    assert "too many pixels" in field_error(refused.content.decode(), "image_reference_upload")
    assert not JobSet.objects.exists() and not ReferenceUpload.objects.exists()


def test_a_reference_picture_over_the_byte_limit_is_refused_beside_the_field(client, alice, uploads_on):
    client.force_login(alice)
    refused = upload_reference(client, png() + b"\0" * (11 * MB))
    assert refused.status_code == 422
    assert "This picture is 11.0 MB; a picture can be at most 10 MB." in field_error(
        refused.content.decode(), "image_reference_upload"
    )
    assert not JobSet.objects.exists() and not ReferenceUpload.objects.exists()


def test_a_picture_that_is_not_an_image_is_refused_in_words(client, alice):
    client.force_login(alice)
    refused = add_character(client, b"GIF89a but not really")
    assert "not a picture soulsite can read" in field_error(refused.content.decode(), "thumbnail")


# --- Requests ------------------------------------------------------------------------------------------


def test_too_many_fields_get_the_too_large_page_not_a_bare_400(client, alice):
    client.force_login(alice)
    refused = client.post("/bulk/", {"action": "star", "job": [str(n) for n in range(1500)], "next": "/"})
    assert refused.status_code == 413 and "images picked at once" in refused.content.decode()


def test_too_many_query_parameters_get_the_too_large_page(client, alice):
    client.force_login(alice)
    refused = client.get("/?" + "&".join(f"q{n}=x" for n in range(1500)))
    assert refused.status_code == 414 and "Too large to send" in refused.content.decode()
