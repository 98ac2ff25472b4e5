"""Downloaded images carry what made them, and are named from it; the pages say parameters in words."""

from __future__ import annotations

import io
import json
import re
import zipfile

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from generations.models import Job, JobSet, Style
from generations.upstream import metadata, pictures, references
from generations.web import filenames, forms
from tests.factories import make_finished, png

SAFE_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*\.(png|jpg|webp)$")


def download(client, job: Job, kind: str = "raw"):
    response = client.get(f"/images/{job.pk}/{kind}/?download=1")
    assert response.status_code == 200, response.status_code
    return response


def disposition_name(response) -> str:
    return re.search(r'filename="([^"]+)"', response["Content-Disposition"]).group(1)


def zip_of(client, jobs: list[Job]) -> zipfile.ZipFile:
    response = client.post("/bulk/", {"action": "zip", "job": [job.pk for job in jobs], "next": "/"})
    assert response["Content-Type"] == "application/zip"
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def store_as(job: Job, fmt: str) -> None:
    """Replace a job's stored image by one in ``fmt`` (the gateway may send JPEG or WebP)."""
    buffer = io.BytesIO()
    Image.new("RGB", (48, 64), (200, 40, 90)).save(buffer, fmt)
    extension = {"JPEG": "jpg", "WEBP": "webp"}[fmt]
    name = default_storage.save(f"results/test/{job.pk}-{fmt}.{extension}", ContentFile(buffer.getvalue()))
    Job.objects.filter(pk=job.pk).update(image=name, preview=name)


@pytest.fixture
def noir():
    style = Style.objects.filter(is_active=True).first()
    Style.objects.filter(pk=style.pk).update(name="Noir, high contrast")
    return Style.objects.get(pk=style.pk)


def test_a_downloaded_png_carries_the_prompt_seed_and_settings(client, alice, noir):
    job_set = make_finished(alice, "a lighthouse at dusk", seed=4242, style=noir, quality="1080p")
    job = job_set.jobs.get()
    client.force_login(alice)
    response = download(client, job)
    image = Image.open(io.BytesIO(response.content))
    parameters = image.text["parameters"]
    assert parameters.startswith("a lighthouse at dusk\n")
    assert (
        "Seed: 4242," in parameters and "Size: 48x64" in parameters and "Model: Higgsfield Soul" in parameters
    )
    assert 'Style: "Noir, high contrast"' in parameters and "Quality: 1080p" in parameters
    record = json.loads(image.text["soulsite"])
    assert record["job_set"] == job_set.pk and record["prompt"] == "a lighthouse at dusk"
    assert (
        record["seed"] == 4242 and record["size"] == "1536x2048" and record["style"] == "Noir, high contrast"
    )
    assert "who" not in record and "price" not in record  # a file travels further than the site
    assert disposition_name(response) == "a-lighthouse-at-dusk-4242-1.png"
    assert response["Content-Type"] == "image/png"
    assert Job.objects.get(pk=job.pk).kept_at is not None  # downloaded full size: kept


def test_an_image_shown_in_a_page_is_the_stored_file_byte_for_byte(client, alice):
    job = make_finished(alice, "shown, not saved", seed=3).jobs.get()
    client.force_login(alice)
    for kind in ("raw", "min"):
        response = client.get(f"/images/{job.pk}/{kind}/")
        assert b"".join(response.streaming_content) == default_storage.open(job.image.name).read()
    assert Job.objects.get(pk=job.pk).kept_at is None


def test_a_downloaded_preview_carries_it_too_and_says_it_is_a_preview(client, alice):
    job = make_finished(alice, "small one", seed=9).jobs.get()
    client.force_login(alice)
    response = download(client, job, "min")
    assert disposition_name(response) == "small-one-9-1-preview.png"
    assert "Seed: 9," in Image.open(io.BytesIO(response.content)).text["parameters"]
    assert Job.objects.get(pk=job.pk).kept_at is None  # a preview is not the kept image


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
def test_a_downloaded_jpeg_or_webp_carries_exif_and_xmp(client, alice, fmt):
    job = make_finished(alice, "a fox in snow", seed=77).jobs.get()
    store_as(job, fmt)
    client.force_login(alice)
    response = download(client, job)
    image = Image.open(io.BytesIO(response.content))
    comment = image.getexif().get_ifd(metadata.EXIF_IFD)[metadata.USER_COMMENT]
    assert comment[8:].decode("utf-16-be").startswith("a fox in snow\nSeed: 77,")
    xmp = image.info["xmp"]
    assert "a fox in snow" in (xmp.decode() if isinstance(xmp, bytes) else xmp)
    assert disposition_name(response) == f"a-fox-in-snow-77-1.{'jpg' if fmt == 'JPEG' else 'webp'}"


def test_every_png_in_a_zip_carries_its_metadata_and_is_named_from_prompt_seed_and_number(client, alice):
    four = make_finished(alice, "zip me", batch_size=4, seed=7)
    again = make_finished(alice, "zip me", batch_size=4, seed=7)  # "use these settings": the same names
    client.force_login(alice)
    archive = zip_of(client, [*four.jobs.all(), *again.jobs.all()])
    images = [name for name in archive.namelist() if name.endswith(".png")]
    assert images == [
        "zip-me-7-1.png",
        "zip-me-7-2.png",
        "zip-me-7-3.png",
        "zip-me-7-4.png",
        "zip-me-7-1-2.png",
        "zip-me-7-2-2.png",
        "zip-me-7-3-2.png",
        "zip-me-7-4-2.png",
    ]
    for name in images:
        image = Image.open(io.BytesIO(archive.read(name)))
        assert image.text["parameters"].startswith("zip me\nSeed: 7,")
        number = int(name.split("-")[3].removesuffix(".png"))
        assert f"Image: {number} of 4" in image.text["parameters"]
        assert json.loads(image.text["soulsite"])["job_set"] in (four.pk, again.pk)
    rows = json.loads(archive.read("metadata.json"))
    assert [row["file"] for row in rows] == images


def test_a_seed_soul_chose_names_the_file_and_an_unknown_one_says_random(client, alice):
    chosen = make_finished(alice, "left to chance")
    JobSet.objects.filter(pk=chosen.pk).update(input_params={"seed": "91827"})
    unknown = make_finished(alice, "left to chance")
    client.force_login(alice)
    first = download(client, chosen.jobs.get())
    assert disposition_name(first) == "left-to-chance-91827-1.png"
    assert json.loads(Image.open(io.BytesIO(first.content)).text["soulsite"])["seed"] == 91827
    second = download(client, unknown.jobs.get())
    assert disposition_name(second) == "left-to-chance-random-1.png"
    assert "Seed:" not in Image.open(io.BytesIO(second.content)).text["parameters"]


HOSTILE = [
    "../../etc/passwd",
    'a/b\\c:d*e?f"g<h>i|j',
    "..",
    "",
    "   ",
    "猫と犬 🐱🐶",
    "Crème brûlée, façade — naïve",
    "CON",
    "x" * 2000,
    ("word " * 400).strip(),
    "\u202egnp.exe",  # right-to-left override
    "a\r\nContent-Disposition: inline",
]


@pytest.mark.parametrize("prompt", HOSTILE)
def test_a_hostile_prompt_gives_a_safe_short_name(prompt):
    name = filenames.image_name(prompt, 5, 1, "png")
    assert SAFE_NAME.match(name), name
    assert len(name) <= 80 and ".." not in name and "/" not in name


def test_the_slug_keeps_accents_as_letters_and_cuts_at_a_word():
    assert filenames.slug("Crème brûlée, façade") == "creme-brulee-facade"
    assert filenames.slug("猫と犬") == "image"
    assert filenames.slug(("word " * 400).strip()) == "-".join(["word"] * 12)
    assert filenames.slug("x" * 2000) == "x" * filenames.SLUG_MAX


def test_names_are_unique_without_regard_to_case():
    unique = filenames.UniqueNames()
    assert [unique(n) for n in ("a-1-1.png", "A-1-1.png", "a-1-1.png", "a-1-1-2.png")] == [
        "a-1-1.png",
        "A-1-1-2.png",
        "a-1-1-3.png",
        "a-1-1-2-2.png",
    ]


def test_a_zip_of_hostile_prompts_holds_only_safe_distinct_names(client, alice):
    jobs = [make_finished(alice, prompt or "blank", seed=1).jobs.get() for prompt in HOSTILE[:9]]
    client.force_login(alice)
    archive = zip_of(client, jobs)
    images = [name for name in archive.namelist() if not name.startswith("metadata.")]
    assert len(images) == len(set(images)) == 9
    assert all(SAFE_NAME.match(name) for name in images), images
    long_one = Image.open(io.BytesIO(archive.read(images[8])))
    assert long_one.text["parameters"].startswith("x" * 2000 + "\n")  # the name is cut, the prompt is not


def test_another_teams_image_is_still_refused(client, alice, bob):
    job = make_finished(alice, "alpha's own", seed=1).jobs.get()
    client.force_login(bob)
    assert client.get(f"/images/{job.pk}/raw/?download=1").status_code == 404
    assert client.get(f"/images/{job.pk}/min/?download=1").status_code == 404
    assert Job.objects.get(pk=job.pk).kept_at is None


def test_a_file_missing_from_storage_is_a_404_and_a_broken_one_is_served_as_stored(client, alice):
    missing = make_finished(alice, "gone", seed=1).jobs.get()
    default_storage.delete(missing.image.name)
    broken = make_finished(alice, "broken", seed=1).jobs.get()
    truncated = png()[:40]  # a PNG signature and half a header
    name = default_storage.save(f"results/test/broken-{broken.pk}.png", ContentFile(truncated))
    Job.objects.filter(pk=broken.pk).update(image=name)
    client.force_login(alice)
    assert client.get(f"/images/{missing.pk}/raw/?download=1").status_code == 404
    assert download(client, broken).content == truncated


# --- Words, not wire names ------------------------------------------------------------------------

WIRE_NAMES = ("width_and_height", "enhance_prompt", "batch_size", "style_strength", "custom_reference")


def test_the_details_page_says_each_parameter_in_words(client, alice):
    job_set = make_finished(alice, "worded", seed=5, enhance_prompt=True)
    client.force_login(alice)
    html = client.get(f"/job-sets/{job_set.pk}/").content.decode()
    labels = re.findall(r"<dt>(.*?)</dt>", html)
    assert {"Size", "Images", "Enhance prompt", "Style strength", "Character strength"} <= set(labels)
    assert not [label for label in labels if "_" in label]


def test_the_compare_table_says_each_parameter_and_value_in_words(client, alice):
    left = make_finished(alice, "left", seed=1, enhance_prompt=True).jobs.get()
    right = make_finished(alice, "right", seed=1).jobs.get()
    client.force_login(alice)
    html = client.get(f"/compare/?job={left.pk}&job={right.pk}").content.decode()
    headers = re.findall(r'<th scope="row">(.*?)</th>', html)
    assert headers[:3] == ["Prompt", "Size", "Quality"] and "Enhance prompt" in headers
    assert not [header for header in headers if any(name in header for name in WIRE_NAMES)]
    row = re.search(r'<th scope="row">Enhance prompt</th>\s*<td>(.*?)</td><td>(.*?)</td>', html)
    assert row.groups() == ("yes", "no")
    assert "True" not in html and "False" not in html
    assert html.count('class="differs"') == 2  # the prompt and enhance prompt


def test_the_spend_chip_says_whose_spend_and_which_teams_it_counts(client, alice):
    client.force_login(alice)
    html = client.get("/spend/chip/").content.decode()
    assert "You, all teams" in html and "in all your teams together" in html
    assert "This month <strong>$" in html


def test_a_refused_upload_says_why_in_words_and_names_no_setting(settings):
    settings.SOUL_PUBLIC_URL = ""
    refusals = [forms.UPLOADS_OFF, forms.UPLOAD_LINK]
    with pytest.raises(ValidationError) as off:
        references.check_upload(SimpleUploadedFile("a.png", png(), "image/png"))
    refusals += off.value.messages
    settings.SOUL_UPLOAD_MAX_BYTES = 10
    for upload in (SimpleUploadedFile("big.png", png(), "image/png"), SimpleUploadedFile("x.png", b"text")):
        with pytest.raises(ValidationError) as refused:
            pictures.check_picture(upload)
        refusals += refused.value.messages
    assert len(refusals) == 5
    for message in refusals:
        assert "SOUL_" not in message and "setting" not in message.lower(), message
        assert not re.search(r"\b[a-z]+_[a-z_]+\b", message), message  # no variable or wire name


def test_behind_nginx_a_shown_image_is_handed_over_and_a_download_carries_metadata(client, alice, settings):
    settings.SOUL_MEDIA_ACCEL_PREFIX = "/protected-media/"
    job = make_finished(alice, "behind nginx", seed=2).jobs.get()
    client.force_login(alice)
    shown = client.get(f"/images/{job.pk}/raw/")
    assert shown["X-Accel-Redirect"] == f"/protected-media/{job.image.name}" and shown.content == b""
    saved = download(client, job)
    assert "X-Accel-Redirect" not in saved
    assert "Seed: 2," in Image.open(io.BytesIO(saved.content)).text["parameters"]
