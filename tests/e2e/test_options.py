"""A person sets every Soul option in the browser; the job set and the upstream request carry exactly that."""

from __future__ import annotations

import re
import uuid

from django.contrib.auth.models import User
from playwright.sync_api import expect

from generations.models import Character, JobSet, Style
from tests.factories import make_job_set


def test_every_option_set_in_the_browser_reaches_the_upstream_unchanged(
    logged_in, live_server, cluster, team_a
):
    character = Character.objects.create(team=team_a, name="Ava", upstream_id=uuid.uuid4())
    realistic = Style.objects.get(name="Realistic")
    page = logged_in
    page.reload()

    page.get_by_label("Prompt", exact=True).fill("a lighthouse keeper reading at night")
    page.locator("label.size-option", has=page.locator('input[value="2048x1152"]')).click()
    page.locator("label.style-option", has=page.locator(f'input[value="{realistic.pk}"]')).click()
    page.locator("#id_style_strength").fill("0.42")
    expect(page.locator('output[for="id_style_strength"]')).to_have_text("0.42")
    page.get_by_role("radio", name="1080p").check()
    page.get_by_role("radio", name="4 images").check()

    page.get_by_text("More options").click()
    page.get_by_label("Seed", exact=True).fill("4242")
    page.get_by_label("Enhance prompt").check()
    page.get_by_label("Character", exact=True).select_option(label="Ava")
    page.locator("#id_custom_reference_strength").fill("0.33")
    page.get_by_label("Image URL").fill("https://example.com/keeper.png")
    expect(page.get_by_label("Image reference")).to_have_value("image_url")  # set by giving a URL
    expect(page.locator("[data-more-set]")).to_have_text(
        "· seed 4242 · enhance prompt · character Ava · image reference"
    )
    page.get_by_role("button", name="Generate").click()

    card = page.locator("article.card").first
    expect(card.locator(".badge")).to_have_text("Completed", timeout=40_000)
    job_set = JobSet.objects.get()
    page.goto(f"{live_server.url}/job-sets/{job_set.pk}/")
    expected = {
        "prompt": "a lighthouse keeper reading at night",
        "width_and_height": "2048x1152",
        "quality": "1080p",
        "batch_size": "4",
        "style_id": "Realistic",
        "style_strength": "0.42",
        "seed": "4242",
        "enhance_prompt": "yes",
        "custom_reference_id": f"Ava {character.upstream_id}",
        "custom_reference_strength": "0.33",
        "image_reference_image_url": "https://example.com/keeper.png",
    }
    for name, text in expected.items():
        expect(page.locator(f'dd[data-param="{name}"]')).to_contain_text(text)
    expect(page.locator(".details-images img")).to_have_count(4)

    # What the gateway says it applied is what the person chose.
    job_set.refresh_from_db()
    applied = job_set.input_params
    assert (applied["width"], applied["height"]) == (2048, 1152)
    assert applied["prompt"] == expected["prompt"] and applied["quality"] == "1080p"
    assert applied["batch_size"] == 4 and applied["seed"] == 4242 and applied["enhance_prompt"] is True
    assert applied["style_id"] == str(realistic.pk) and applied["style_strength"] == 0.42
    assert applied["custom_reference"] == {"id": str(character.upstream_id)}
    assert applied["custom_reference_strength"] == 0.33
    assert applied["image_reference"]["url"] == "https://example.com/keeper.png"


def test_use_these_settings_fills_the_form_in_place(logged_in, live_server):
    make_job_set(User.objects.get(username="alice"), prompt="reuse me", quality="1080p", seed=99)
    page = logged_in
    page.reload()
    page.get_by_role("link", name="Use these settings").first.click()
    expect(page.get_by_label("Prompt", exact=True)).to_have_value(re.compile("reuse me"))
    expect(page.get_by_role("radio", name="1080p")).to_be_checked()
    expect(page.get_by_label("Seed", exact=True)).to_have_value("99")
    assert JobSet.objects.count() == 1
