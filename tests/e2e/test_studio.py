"""The studio in Chromium (issue 23): the workspace at four screen sizes, the viewer's keys, iterating
on an image, word from a background tab, accessibility (axe) and layout shift while images arrive."""

from __future__ import annotations

import re

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from playwright.sync_api import expect

from generations.models import Favourite, Job, JobSet
from tests.conftest import ARTIFACTS
from tests.factories import make_finished, make_job_set, png

SCREENS = [(1280, 720), (1440, 900), (1920, 1080), (390, 844)]
PHONE_WIDTH = 500
SIZES = ["1536x2048", "2048x1536", "1536x1536", "1152x2048", "2048x1152"]

# Chromium's layout-shift entries, the numbers Lighthouse adds up as Cumulative Layout Shift
# (those within 0.5 s of an input are left out, as Lighthouse does).
LAYOUT_SHIFT = """window.__cls = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if (!e.hadRecentInput) window.__cls += e.value;
}).observe({type: "layout-shift", buffered: true});"""
IN_VIEW = """(selector) => { const r = document.querySelector(selector).getBoundingClientRect();
  return r.top >= 0 && r.bottom <= window.innerHeight && r.left >= 0 && r.right <= window.innerWidth; }"""
WIDE = "document.documentElement.scrollWidth > document.documentElement.clientWidth"
# The tab as hidden or shown, as far as the page can tell.
SHOWN = """Object.defineProperty(document, "visibilityState", {configurable: true, get: () => "%s"});
document.dispatchEvent(new Event("visibilitychange"));"""


def _gallery(user, count: int = 32) -> list[JobSet]:
    made = []
    for n in range(count):
        made.append(
            make_finished(
                user, f"studio picture {n}", batch_size=4 if n % 4 == 0 else 1, width_and_height=SIZES[n % 5]
            )
        )
    return made


def _open(browser, live_server, width: int, height: int, **options):
    phone = width < PHONE_WIDTH
    context = browser.new_context(
        viewport={"width": width, "height": height}, is_mobile=phone, has_touch=phone, **options
    )
    context.set_default_timeout(15_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("alice-password-1")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")
    return context, page


def _finish(job_set: JobSet, failed: tuple[int, ...] = ()) -> None:
    """Store a pending job set's images as the tracker would (some failed), and mark it done."""
    for index in range(job_set.batch_size):
        name = (
            ""
            if index in failed
            else default_storage.save(f"results/test/{job_set.pk}-{index}.png", ContentFile(png()))
        )
        Job.objects.create(
            job_set=job_set,
            index=index,
            upstream_id=f"{job_set.pk}-{index}",
            status="failed" if index in failed else "completed",
            raw_url="" if index in failed else f"https://cdn.example/{job_set.pk}/{index}.png",
            image=name,
            preview=name,
            width=48,
            height=64,
        )
    JobSet.objects.filter(pk=job_set.pk).update(
        status=JobSet.Status.COMPLETED, charge=JobSet.Charge.CHARGED, finished_at=timezone.now()
    )


@pytest.mark.parametrize(("width", "height"), SCREENS, ids=[f"{w}x{h}" for w, h in SCREENS])
def test_generate_stays_in_reach_ctrl_enter_sends_and_the_prompt_is_kept(
    browser, live_server, alice, width, height
):
    _gallery(alice)
    context, page = _open(browser, live_server, width, height)
    assert not page.evaluate(WIDE), "the gallery scrolls sideways"
    page.screenshot(path=str(ARTIFACTS / f"studio-gallery-{width}x{height}.png"))

    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    expect(page.locator("article.card").first).not_to_be_in_viewport()  # well down the gallery
    if width < PHONE_WIDTH:
        # On a phone the form is one tap away, and Generate then sits at the foot of the screen.
        page.get_by_role("link", name="New image").click()
        expect(page.get_by_label("Prompt", exact=True)).to_be_focused()
    # (On a phone after a smooth scroll: waited for, a few hundred ms.)
    page.wait_for_function(IN_VIEW, arg="#generate-form [name=prompt]", timeout=5_000)
    page.wait_for_function(IN_VIEW, arg="#price button[type=submit]", timeout=5_000)
    page.screenshot(path=str(ARTIFACTS / f"studio-scrolled-{width}x{height}.png"))

    prompt = page.get_by_label("Prompt", exact=True)
    prompt.fill(f"sent with the keyboard at {width}")
    prompt.press("Control+Enter")
    expect(page.locator("article.card").first).to_contain_text(f"sent with the keyboard at {width}")
    assert JobSet.objects.filter(prompt=f"sent with the keyboard at {width}").count() == 1
    expect(prompt).to_have_value(f"sent with the keyboard at {width}")  # kept for the next take
    page.get_by_role("button", name="Clear", exact=True).click()
    expect(prompt).to_have_value("")

    for path in ("/team/", "/spend/", "/queue/", "/characters/"):
        page.goto(f"{live_server.url}{path}")
        assert not page.evaluate(WIDE), f"{path} scrolls sideways at {width} px"
    context.close()


def test_the_viewer_walks_only_what_it_can_show_and_answers_its_keys(browser, live_server, alice):
    make_finished(alice, "the oldest one")
    partial = make_job_set(alice, prompt="two of four made", batch_size=4, seed=5)
    _finish(partial, failed=(1, 2))
    context, page = _open(browser, live_server, 1280, 720)
    page.locator("a[data-lightbox]").first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("two of four made")
    expect(dialog).to_contain_text("Image 1 of 2")  # two failed: there are two to see, not four
    page.keyboard.press("ArrowRight")
    expect(dialog).to_contain_text("Image 2 of 2")
    page.keyboard.press("ArrowRight")  # past the failed ones, to the next card
    expect(dialog).to_contain_text("the oldest one")
    page.keyboard.press("ArrowLeft")
    expect(dialog).to_contain_text("Image 2 of 2")

    page.keyboard.press("?")
    expect(page.locator("#viewer-keys")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "studio-viewer-keys.png"))
    page.keyboard.press("?")
    expect(page.locator("#viewer-keys")).to_be_hidden()

    image = page.locator("[data-viewer-image]")
    page.keyboard.press("+")
    expect(image).to_have_attribute("style", re.compile(r"scale\(1\.5\)"))
    page.keyboard.press("0")
    expect(image).not_to_have_attribute("style", re.compile(r"scale"))

    page.keyboard.press("s")
    expect(dialog.locator(".star")).to_have_attribute("aria-pressed", "true")
    assert Favourite.objects.filter(user=alice, job__job_set=partial).count() == 1

    page.keyboard.press("v")
    expect(dialog.locator("[data-viewer-note]")).to_contain_text("Sent")
    varied = JobSet.objects.exclude(pk=partial.pk).get(prompt="two of four made")
    assert varied.seed != 5 and varied.batch_size == 4
    expect(page.locator("article.card").first).to_contain_text("two of four made")  # at the top, waiting

    shown = page.locator("[data-lightbox-job]").get_attribute("data-lightbox-job")
    page.keyboard.press("h")
    expect(page.locator(f'#gallery a[data-job="{shown}"]')).to_have_count(0)
    expect(dialog).to_contain_text("the oldest one")  # it moved on to the next image
    assert Job.objects.get(pk=shown).hidden_at is not None

    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    context.close()


def test_a_swipe_walks_the_viewer_on_a_phone(browser, live_server, alice):
    make_finished(alice, "swiped to")
    make_finished(alice, "swiped from")
    context, page = _open(browser, live_server, 390, 844)
    page.locator("a[data-lightbox]").first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("swiped from")
    box = page.locator("[data-viewer-stage]").bounding_box()
    y = box["y"] + 30  # above the arrows, which sit at mid-height
    page.mouse.move(box["x"] + box["width"] * 0.8, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.2, y, steps=5)
    page.mouse.up()
    expect(dialog).to_contain_text("swiped to")
    context.close()


def test_an_image_becomes_the_forms_reference_from_the_viewer_a_paste_or_a_drop(
    browser, live_server, alice, settings
):
    settings.SOUL_PUBLIC_URL = live_server.url  # uploads on: the gateway could fetch them from here
    make_finished(alice, "a reference to be")
    context, page = _open(browser, live_server, 1280, 720)
    upload = page.locator("#generate-form [name=image_reference_upload]")
    kind = page.locator("#generate-form [name=image_reference_type]")

    page.locator("a[data-lightbox]").first.click()
    page.get_by_role("dialog").get_by_role("button", name="Use as reference").click()
    expect(page.get_by_role("dialog")).to_be_hidden()
    expect(page.locator(".reference-preview")).to_contain_text("from the gallery")
    assert upload.evaluate("input => input.files[0].type") == "image/png"
    expect(kind).to_have_value("image_url")

    made_file = """async (kind) => {
      const blob = await (await fetch(document.querySelector("#gallery img").src)).blob();
      const data = new DataTransfer();
      data.items.add(new File([blob], "from-" + kind + ".png", {type: "image/png"}));
      return data;
    }"""
    page.locator("#generate-form [name=prompt]").focus()
    transfer = page.evaluate_handle(made_file, "clipboard")
    page.evaluate(
        """(data) => document.querySelector("#generate-form [name=prompt]").dispatchEvent(
             new ClipboardEvent("paste", {clipboardData: data, bubbles: true, cancelable: true}))""",
        transfer,
    )
    expect(page.locator(".reference-preview")).to_contain_text("pasted")
    assert upload.evaluate("input => input.files[0].name") == "from-clipboard.png"

    transfer = page.evaluate_handle(made_file, "drop")
    page.locator("#compose").dispatch_event("drop", {"dataTransfer": transfer})
    expect(page.locator(".reference-preview")).to_contain_text("dropped")
    assert upload.evaluate("input => input.files[0].name") == "from-drop.png"

    page.get_by_label("Prompt", exact=True).fill("made from a dropped reference")
    page.get_by_label("Prompt", exact=True).press("Control+Enter")
    expect(page.locator("article.card").first).to_contain_text("made from a dropped reference")
    made = JobSet.objects.get(prompt="made from a dropped reference")
    assert made.reference_upload_id is not None  # the dropped picture, stored and sent as the reference
    context.close()


def test_without_uploads_an_image_offered_as_reference_says_why_it_cannot_be(
    browser, live_server, alice, settings
):
    settings.SOUL_PUBLIC_URL = ""
    make_finished(alice, "no way to send it")
    context, page = _open(browser, live_server, 1280, 720)
    page.locator("a[data-lightbox]").first.click()
    page.get_by_role("dialog").get_by_role("button", name="Use as reference").click()
    expect(page.locator(".reference-preview")).to_contain_text("Uploads are off on this site")
    assert (
        page.locator("#generate-form [name=image_reference_upload]").evaluate("input => input.files.length")
        == 0
    )
    context.close()


# The browser's notifications, recorded instead of shown (a headless browser has nowhere to show them).
RECORD_NOTIFICATIONS = """window.__told = [];
window.Notification = function (title, options) { window.__told.push(title); };
window.Notification.permission = "granted";
window.Notification.requestPermission = () => Promise.resolve("granted");"""


def test_a_hidden_tab_counts_finished_images_in_its_title_and_notifies_if_asked(browser, live_server, alice):
    waiting = make_job_set(alice, prompt="finishes while you look away", batch_size=4)
    context, page = _open(browser, live_server, 1280, 720)
    page.add_init_script(RECORD_NOTIFICATIONS)
    page.reload()
    page.get_by_label("Notify").check()
    expect(page.get_by_label("Notify")).to_be_checked()
    title = page.title()
    page.evaluate(SHOWN % "hidden")
    _finish(waiting, failed=(3,))
    expect(page).to_have_title(f"(3) {title}", timeout=20_000)  # three made, one failed
    page.wait_for_function("() => window.__told.length > 0")
    assert page.evaluate("window.__told") == ["3 images are ready"]  # one word for the batch
    page.evaluate(SHOWN % "visible")
    expect(page).to_have_title(title)
    page.reload()
    expect(page.get_by_label("Notify")).to_be_checked()  # remembered
    context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_nothing_serious_on_the_gallery_spend_queue_team_and_characters_pages(
    browser, live_server, alice, scheme
):
    from axe_playwright_python.sync_playwright import Axe

    _gallery(alice, count=6)
    failed = make_job_set(alice, prompt="one that failed")
    JobSet.objects.filter(pk=failed.pk).update(status=JobSet.Status.FAILED, status_reason="Soul said no.")
    make_job_set(alice, prompt="one waiting")
    axe = Axe()
    tags = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
    for width, height in ((1280, 720), (390, 844)):
        context, page = _open(browser, live_server, width, height, color_scheme=scheme)
        for path in ("/", "/spend/", "/queue/", "/team/", "/characters/"):
            page.goto(f"{live_server.url}{path}")
            page.wait_for_load_state("networkidle")
            results = axe.run(page, options={"runOnly": {"type": "tag", "values": tags}})
            bad = [
                (v["id"], v["impact"], [n["target"] for n in v["nodes"][:3]])
                for v in results.response["violations"]
                if v["impact"] in ("serious", "critical")
            ]
            assert bad == [], f"{path} at {width} px, {scheme}: {bad}"
        context.close()


def test_nothing_shifts_on_a_phone_while_images_arrive(browser, live_server, alice):
    _gallery(alice, count=8)
    arriving = [
        make_job_set(
            alice, prompt=f"arriving {n}", batch_size=4 if n % 2 else 1, width_and_height=SIZES[n % 5]
        )
        for n in range(4)
    ]
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    context.add_init_script(LAYOUT_SHIFT)
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("alice-password-1")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")
    # As slow as Lighthouse's phone, so the page's late parts (the spend chip) land after it is drawn.
    context.new_cdp_session(page).send("Emulation.setCPUThrottlingRate", {"rate": 4})
    page.reload()
    page.evaluate("document.getElementById('gallery').scrollIntoView({block: 'start'})")
    page.wait_for_timeout(500)
    for n, job_set in enumerate(arriving):
        _finish(job_set, failed=(1,) if n == 3 else ())
    expect(page.locator("article.card", has_text="arriving").locator("img")).to_have_count(
        1 + 4 + 1 + 3, timeout=20_000
    )
    page.wait_for_timeout(500)
    shift = page.evaluate("window.__cls")
    page.screenshot(path=str(ARTIFACTS / "studio-arrived-390x844.png"))
    context.close()
    assert shift < 0.1, f"cumulative layout shift {shift:.3f}"
