"""A person logs in, writes a prompt, presses Generate and watches the card finish."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from generations.models import JobSet


def test_a_person_generates_an_image_and_watches_it_arrive(logged_in, live_server, cluster):
    page = logged_in
    page.get_by_label("Prompt", exact=True).fill("an orange cat asleep on a stack of books")
    page.get_by_role("radio", name="4 images").check()
    page.get_by_role("button", name="Generate").click()

    card = page.locator("article.card").first
    expect(card).to_contain_text("an orange cat asleep")
    # Queued here → upstream → done, without a reload.
    expect(card.locator(".badge")).to_have_text("Completed", timeout=40_000)
    images = card.locator("img")
    expect(images).to_have_count(4)
    for index in range(4):
        expect(images.nth(index)).to_have_attribute("alt", re.compile("orange cat"))
        assert images.nth(index).evaluate("img => img.complete && img.naturalWidth > 0")
    expect(page.locator("#spend-chip")).to_contain_text("$0.19")
    assert JobSet.objects.get().status == JobSet.Status.COMPLETED


def test_an_empty_prompt_is_refused_beside_the_field(logged_in):
    page = logged_in
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#id_prompt_error")).to_have_text(re.compile("Prompt is required"))
    expect(page.locator("article.card")).to_have_count(0)
    assert not JobSet.objects.exists()
