"""The price on the button follows the choice; the header total rises when images arrive."""

from __future__ import annotations

import re

from playwright.sync_api import expect


def test_the_button_shows_the_price_and_the_header_total_rises_after_a_completion(logged_in, cluster):
    page = logged_in
    button = page.get_by_role("button", name=re.compile("^Generate"))
    expect(button).to_have_text("Generate · $0.15")
    page.get_by_role("radio", name="1080p").check()
    expect(button).to_have_text("Generate · $0.25")
    page.get_by_role("radio", name="4 images").check()
    expect(button).to_have_text("Generate · $0.37")
    page.get_by_role("radio", name="720p").check()
    expect(button).to_have_text("Generate · $0.19")

    chip = page.locator("#spend-chip")
    expect(chip).to_contain_text("This month $0.00")
    page.get_by_label("Prompt", exact=True).fill("a harbour at dawn")
    button.click()
    expect(chip).to_contain_text("$0.19 pending")  # reserved at once
    expect(page.locator("article.card .badge").first).to_have_text("Completed", timeout=40_000)
    expect(chip).to_have_text(re.compile(r"This month \$0\.19\s*$"))  # charged, no longer pending


def test_the_spend_page_draws_the_trend(logged_in, live_server):
    from django.contrib.auth.models import User

    from tests.factories import make_job_set

    alice = User.objects.get(username="alice")
    for quality in ("720p", "1080p", "1080p"):
        make_job_set(alice, quality=quality)
    page = logged_in
    page.get_by_role("link", name="Spend").click()
    expect(page.get_by_role("img", name=re.compile("Spend per day"))).to_be_visible()
    expect(page.locator("#period-total")).to_have_text("$0.65")
    page.get_by_role("link", name="90 days").click()
    expect(page).to_have_url(re.compile("days=90"))
    expect(page.locator("#period-total")).to_have_text("$0.65")
