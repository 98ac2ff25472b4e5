"""The gallery in Chromium: filters, lightbox, keeping, bulk zip, queue, live arrival, a phone."""

from __future__ import annotations

import io
import json
import re
import zipfile

from playwright.sync_api import expect

from generations.models import Collection, Favourite, JobSet
from tests.factories import make_finished, make_job_set


def test_filters_and_search_live_in_the_url_and_survive_a_reload(logged_in, live_server, alice):
    make_finished(alice, "a lighthouse in fog", quality="1080p")
    make_finished(alice, "a fox in snow")
    make_finished(alice, "a fox at night", quality="1080p")
    page = logged_in
    page.reload()
    expect(page.locator("article.card")).to_have_count(3)
    page.get_by_label("Search prompts").fill("fox")
    expect(page).to_have_url(re.compile(r"q=fox"))
    expect(page.locator("article.card")).to_have_count(2)
    page.get_by_label("Quality").select_option("1080p")
    # Only what is set goes into the address, not every empty field of the form.
    expect(page).to_have_url(re.compile(r"/\?q=fox&quality=1080p$"))
    expect(page.locator("article.card")).to_have_count(1)
    page.reload()
    expect(page.locator("article.card")).to_have_count(1)
    expect(page.locator("article.card")).to_contain_text("a fox at night")
    expect(page.get_by_label("Search prompts")).to_have_value("fox")


def test_typing_searches_from_three_characters_and_enter_searches_for_fewer(logged_in, alice):
    make_finished(alice, "a fox in snow")
    make_finished(alice, "an ox at dawn")
    make_finished(alice, "a lighthouse")
    page = logged_in
    page.reload()
    searches = []
    page.on("request", lambda request: searches.append(request.url) if "q=" in request.url else None)
    box = page.get_by_label("Search prompts")
    hint = page.get_by_text("Press Enter to search")
    box.press_sequentially("ox")
    expect(hint).to_be_visible()
    page.wait_for_timeout(900)  # twice the box's pause before it searches
    assert searches == []
    expect(page.locator("article.card")).to_have_count(3)
    box.press("Enter")
    expect(page).to_have_url(re.compile(r"/\?q=ox$"))
    expect(page.locator("article.card")).to_have_count(2)  # "fox" and "ox"
    box = page.get_by_label("Search prompts")
    box.press_sequentially(" a")
    expect(page).to_have_url(re.compile(r"/\?q=ox(\+|%20)a$"))
    expect(page.locator("article.card")).to_have_count(1)
    expect(page.locator("article.card")).to_contain_text("an ox at dawn")
    expect(hint).to_be_hidden()
    page.get_by_label("Search prompts").fill("")
    expect(page.locator("article.card")).to_have_count(3)


def test_what_is_typed_while_a_search_is_on_its_way_is_kept_and_searched_for(logged_in, alice):
    # The answer to "fox" is held until more has been typed: the gallery section it brings (its
    # search box included) must not take back what the person typed meanwhile.
    make_finished(alice, "a fox in snow")
    make_finished(alice, "a fox at night")
    page = logged_in
    page.reload()
    held = []
    page.route(re.compile(r"/\?q=fox$"), lambda route: held.append(route))
    box = page.get_by_label("Search prompts")
    box.press_sequentially("fox")
    for _ in range(50):
        if held:
            break
        page.wait_for_timeout(100)
    assert len(held) == 1
    box.press_sequentially(" in")
    page.evaluate("document.getElementById('gallery-section').dataset.before = 'fox'")
    held.pop().continue_()
    expect(page.locator("#gallery-section[data-before]")).to_have_count(0)  # its answer is in
    expect(page.get_by_label("Search prompts")).to_have_value("fox in")
    expect(page.get_by_label("Search prompts")).to_be_focused()
    expect(page).to_have_url(re.compile(r"/\?q=fox(\+|%20)in$"))
    expect(page.locator("article.card")).to_have_count(1)
    expect(page.locator("article.card")).to_contain_text("a fox in snow")
    page.get_by_label("Search prompts").press_sequentially(" s")
    expect(page).to_have_url(re.compile(r"/\?q=fox(\+|%20)in(\+|%20)s$"))


def test_the_lightbox_opens_walks_with_the_arrow_keys_and_closes_with_escape(logged_in, alice):
    make_finished(alice, "first picture")
    make_finished(alice, "second picture", batch_size=4)
    page = logged_in
    page.reload()
    page.locator("a[data-lightbox]").first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("second picture")
    expect(dialog).to_contain_text("Image 1 of 4")
    page.keyboard.press("ArrowRight")
    expect(dialog).to_contain_text("Image 2 of 4")
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    expect(dialog).to_contain_text("first picture")
    page.keyboard.press("ArrowLeft")
    expect(dialog).to_contain_text("Image 4 of 4")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()


def test_arrow_keys_pressed_while_an_image_loads_walk_on_from_the_newest_one_asked_for(logged_in, alice):
    # Each image is held on its way from the server until the test lets it through, so a key is
    # pressed while an older image is still loading and its answer arrives after the press.
    make_finished(alice, "first picture")
    make_finished(alice, "second picture", batch_size=4)
    page = logged_in
    page.reload()
    held = []
    page.route(re.compile(r"/images/\d+/lightbox/"), lambda route: held.append(route))

    def let_through(until_quiet_ms=600):
        quiet = 0
        while quiet < until_quiet_ms:
            page.wait_for_timeout(100)
            quiet = 0 if held else quiet + 100
            while held:
                held.pop(0).continue_()

    page.locator("a[data-lightbox]").first.click()
    let_through()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Image 1 of 4")
    page.keyboard.press("ArrowRight")  # image 2: on its way, held
    for _ in range(50):
        if held:
            break
        page.wait_for_timeout(100)
    assert len(held) == 1
    page.keyboard.press("ArrowRight")  # image 3: waits behind image 2
    held.pop(0).continue_()  # image 2 arrives after the press for image 3
    expect(dialog).to_contain_text("Image 2 of 4")
    page.keyboard.press("ArrowRight")  # image 4
    page.keyboard.press("ArrowRight")  # the next card's only image
    let_through()
    expect(dialog).to_contain_text("first picture")
    expect(dialog).to_contain_text("Image 1 of 1")
    # The last image of the gallery: its "next" button is off (and so not drawn).
    expect(dialog.locator('[data-viewer-step="1"]')).to_be_disabled()
    page.get_by_role("button", name="Previous image (←)").click()
    let_through()
    expect(dialog).to_contain_text("Image 4 of 4")
    expect(page.get_by_role("button", name="Next image (→)")).to_be_visible()


def test_star_and_file_into_a_collection(logged_in, alice):
    job_set = make_finished(alice, "keep this one")
    page = logged_in
    page.reload()
    page.locator(".thumb").first.hover()
    page.get_by_role("button", name="Star image 1").click()
    expect(page.get_by_role("button", name="Star image 1")).to_have_attribute("aria-pressed", "true")
    assert Favourite.objects.filter(user=alice, job__job_set=job_set).exists()

    page.get_by_label(re.compile("Select image 1 of")).check()
    expect(page.locator("[data-bulk-count]")).to_have_text("1 selected")
    page.get_by_placeholder("or a new collection").fill("Best of November")
    page.get_by_role("button", name="File", exact=True).click()
    expect(page.get_by_text("Filed 1 image in “Best of November”")).to_be_visible()
    assert Collection.objects.get(name="Best of November").items.count() == 1
    page.get_by_label("Collection", exact=True).first.select_option(label="Best of November")
    expect(page).to_have_url(re.compile(r"collection="))
    expect(page.locator("article.card")).to_have_count(1)


def test_bulk_zip_download_carries_a_metadata_sidecar(logged_in, alice):
    make_finished(alice, "zip one", seed=11)
    make_finished(alice, "zip two", batch_size=4)
    page = logged_in
    page.reload()
    boxes = page.locator("input.pick")
    boxes.nth(0).check()
    boxes.nth(4).click(modifiers=["Shift"])  # a range, as in a file manager
    expect(page.locator("[data-bulk-count]")).to_have_text("5 selected")
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download zip").click()
    with open(download_info.value.path(), "rb") as downloaded:
        archive = zipfile.ZipFile(io.BytesIO(downloaded.read()))
    records = json.loads(archive.read("metadata.json"))
    assert len(records) == 5 and {r["prompt"] for r in records} == {"zip one", "zip two"}
    assert "metadata.csv" in archive.namelist()
    assert all(r["file"] in archive.namelist() for r in records)


def test_the_queue_shows_place_in_line_and_cancels(logged_in, live_server, alice, settings):
    for n in range(3):
        make_job_set(alice, prompt=f"waiting picture {n}")
    page = logged_in
    page.goto(f"{live_server.url}/queue/")
    expect(page.get_by_text("Waiting here (3)")).to_be_visible()
    expect(page.locator("li", has_text="waiting picture 0")).to_contain_text("1st")
    page.get_by_role("button", name="Cancel “waiting picture 0”").click()
    expect(page.get_by_text("Waiting here (2)")).to_be_visible()
    expect(page.locator("li", has_text="waiting picture 1")).to_contain_text("1st")
    assert JobSet.objects.get(prompt="waiting picture 0").status == "canceled"


def test_a_new_image_arrives_at_the_top_without_a_reload(logged_in, cluster, alice):
    make_finished(alice, "an older picture")
    page = logged_in
    page.reload()
    page.evaluate("window.__noReload = true")
    page.get_by_label("Prompt", exact=True).fill("a brand new picture")
    page.get_by_role("button", name=re.compile("^Generate")).click()
    first = page.locator("article.card").first
    expect(first).to_contain_text("a brand new picture")
    expect(first.locator(".badge")).to_have_text("Completed", timeout=40_000)
    expect(first.locator("img")).to_have_count(1)
    assert page.evaluate("window.__noReload") is True  # the page was never reloaded
    expect(page.locator("article.card").nth(1)).to_contain_text("an older picture")


def test_it_works_on_a_phone(browser, live_server, alice):
    make_finished(alice, "on a small screen")
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("alice-password-1")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name=re.compile("^Generate"))).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width}px wide on a 390px screen"
    page.locator("article.card").scroll_into_view_if_needed()
    expect(page.locator("article.card")).to_contain_text("on a small screen")
    from tests.conftest import ARTIFACTS

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "test_it_works_on_a_phone-390px.png"), full_page=True)
    for path in ("/spend/", "/queue/", "/team/", "/characters/"):  # wide tables scroll inside
        page.goto(f"{live_server.url}{path}")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} is {width}px wide on a 390px screen"
    page.screenshot(path=str(ARTIFACTS / "test_it_works_on_a_phone-characters-390px.png"), full_page=True)
    context.close()
