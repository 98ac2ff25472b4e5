"""Exploring in Chromium (issue 24): the Generate button says "6 requests · $0.90" before sending,
one send makes a group card, and the 3 × 2 contact sheet fills in by itself and opens the viewer.

The screenshots test-artifacts/explore-form.png and explore-sheet.png are the issue's closing pictures.
"""

from __future__ import annotations

from playwright.sync_api import expect

from generations.models import Exploration, JobSet, Style
from tests.conftest import ARTIFACTS


def test_an_exploration_is_priced_live_sent_once_and_fills_its_contact_sheet(logged_in, live_server, cluster):
    page = logged_in
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    styles = list(Style.objects.filter(is_active=True)[:3])

    page.get_by_label("Prompt", exact=True).fill("a lighthouse at dusk")
    explore = page.locator("details.explore-options")
    expect(explore).not_to_have_attribute("open", "")  # folded: the plain form looks as it did
    explore.locator("summary").click()
    for style in styles:
        explore.get_by_label(style.name, exact=True).check()
    explore.get_by_label("Seeds").fill("11, 12")
    button = page.locator("#price button[type=submit]")
    expect(button).to_have_text("Generate · 6 requests · $0.90")
    ARTIFACTS.mkdir(exist_ok=True)
    # The form scrolls inside its panel: show the exploring options and the button together.
    explore.get_by_label("Seeds").evaluate("field => field.scrollIntoView({block: 'center'})")
    page.screenshot(path=str(ARTIFACTS / "explore-form.png"))

    button.click()
    exploration = None
    card = page.locator("article.explore-card")
    expect(card).to_have_count(1)
    expect(card).to_contain_text("Style × Seed")
    exploration = Exploration.objects.get()
    assert exploration.job_sets.count() == 6
    # The group card fills in by itself, then stops asking.
    expect(card).to_contain_text("6 of 6 done", timeout=60_000)
    expect(card.locator("img")).to_have_count(6)
    assert set(JobSet.objects.values_list("status", flat=True)) == {JobSet.Status.COMPLETED}
    page.screenshot(path=str(ARTIFACTS / "explore-gallery.png"))

    card.get_by_role("link", name="Open the contact sheet").click()
    page.wait_for_url(f"{live_server.url}/explorations/{exploration.pk}/")
    sheet = page.locator("table.sheet")
    expect(sheet.locator("tbody tr")).to_have_count(3)
    for style in styles:
        expect(sheet.locator("tbody th", has_text=style.name)).to_have_count(1)
    expect(sheet.locator("thead th")).to_have_text(
        ["Style", "11", "12"]
    )  # the corner names the rows (for screen readers)
    expect(sheet.locator("img")).to_have_count(6)
    for index in range(6):
        assert sheet.locator("img").nth(index).evaluate("img => img.complete && img.naturalWidth > 0")
    page.screenshot(path=str(ARTIFACTS / "explore-sheet.png"), full_page=True)
    exported = page.request.get(f"{live_server.url}/explorations/{exploration.pk}/sheet.png")
    assert exported.ok and exported.headers["content-type"] == "image/png"
    (ARTIFACTS / "explore-sheet-export.png").write_bytes(exported.body())

    # A cell opens into the viewer.
    sheet.locator("a[data-lightbox]").first.click()
    expect(page.locator("#lightbox")).to_have_attribute("open", "")
    expect(page.locator("#lightbox-body img").first).to_be_visible()
    assert not [text for text in errors if "htmx" in text.lower()], errors
