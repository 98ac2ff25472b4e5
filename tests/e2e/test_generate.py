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


def test_each_new_card_clears_the_empty_gallery_message_without_htmx_errors(logged_in):
    page = logged_in
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    expect(page.locator("#gallery-empty")).to_be_visible()
    for n, prompt in enumerate(("a first kite", "a second kite", "a third kite"), start=1):
        page.get_by_label("Prompt", exact=True).fill(prompt)
        page.get_by_role("button", name="Generate").click()
        expect(page.locator("article.card")).to_have_count(n)
        expect(page.locator("#gallery-empty")).to_be_hidden()
    page.reload()
    expect(page.locator("article.card")).to_have_count(3)
    expect(page.locator("#gallery-empty")).to_be_hidden()
    assert not [text for text in errors if "htmx" in text], errors
