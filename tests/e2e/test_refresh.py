"""One refresh per tab in Chromium: a request every 2 s for every pending card, none when none is."""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlsplit

from django.utils import timezone
from playwright.sync_api import expect

from generations.models import JobSet
from tests.factories import make_job_set

HIDE = """Object.defineProperty(document, "visibilityState", {configurable: true, get: () => "%s"});
document.dispatchEvent(new Event("visibilitychange"));"""
STARTS = """performance.getEntriesByType("resource")
  .filter((e) => new URL(e.name).pathname === "/refresh/").map((e) => e.startTime)"""


class Requests:
    """Every request the tab makes, with when it was made."""

    def __init__(self, page):
        self.seen: list[tuple[float, str]] = []
        page.on("request", lambda request: self.seen.append((time.monotonic(), request.url)))

    def clear(self) -> None:
        self.seen.clear()

    def refreshes(self) -> list[tuple[float, str]]:
        return [(at, url) for at, url in self.seen if urlsplit(url).path == "/refresh/"]


def test_one_refresh_every_two_seconds_carries_every_pending_card_and_stops_when_they_finish(
    logged_in, alice
):
    waiting = [make_job_set(alice, prompt=f"pending picture {n}") for n in range(6)]
    page = logged_in
    requests = Requests(page)
    page.reload()
    expect(page.locator("[data-refresh-card]")).to_have_count(6)
    page.evaluate("document.getElementById('spend-chip').dataset.old = '1'")
    requests.clear()
    page.wait_for_timeout(6_500)

    refreshes = requests.refreshes()
    assert 3 <= len(refreshes) <= 4, refreshes  # one per 2 s, for all six cards together
    # Gaps on the page's own clock (Playwright's events can reach Python late, in bursts).
    starts = page.evaluate(STARTS)
    gaps = [later - earlier for earlier, later in zip(starts, starts[1:], strict=False)]
    assert gaps and all(gap >= 1_950 for gap in gaps), gaps
    asked = parse_qs(urlsplit(refreshes[-1][1]).query)["card"]
    assert sorted(map(int, asked)) == sorted(js.pk for js in waiting)
    others = [url for _, url in requests.seen if urlsplit(url).path != "/refresh/"]
    assert others == []  # no card polls on its own any more

    JobSet.objects.filter(pk__in=[js.pk for js in waiting]).update(
        status=JobSet.Status.COMPLETED, charge=JobSet.Charge.CHARGED, finished_at=timezone.now()
    )
    expect(page.locator("[data-refresh-card]")).to_have_count(0, timeout=5_000)
    expect(page.locator("article.card .badge").first).to_have_text("Completed")
    expect(page.locator("#spend-chip:not([data-old])")).to_have_count(1)  # settled: the chip came too
    requests.clear()
    page.wait_for_timeout(5_000)
    assert requests.seen == []  # nothing pending: nothing asked


def test_the_place_in_line_moves_up_and_refreshed_cards_keep_working(logged_in, alice):
    first, second, third = (make_job_set(alice, prompt=f"in line {n}") for n in range(3))
    page = logged_in
    page.reload()
    card = page.locator(f"#job-set-{third.pk}")
    expect(card).to_contain_text("3rd in line")
    JobSet.objects.filter(pk=first.pk).update(status=JobSet.Status.CANCELED, charge=JobSet.Charge.RELEASED)
    expect(card).to_contain_text("2nd in line", timeout=5_000)
    expect(page.locator(f"#job-set-{first.pk} .badge")).to_have_text("Canceled")
    # A card drawn by the refresh is live htmx: its Cancel button swaps it in place.
    card.get_by_role("button", name="Cancel").click()
    expect(card.locator(".badge")).to_have_text("Canceled")
    assert JobSet.objects.get(pk=third.pk).status == JobSet.Status.CANCELED
    expect(page.locator(f"#job-set-{second.pk}")).to_contain_text("1st in line", timeout=5_000)


def test_a_hidden_tab_asks_seldom_and_asks_at_once_when_shown_again(logged_in, alice):
    # Hidden, the page asks every 5 s (static/js/studio.js, so that the title can count what
    # finished), never at the 2-s pace of a tab someone looks at.
    make_job_set(alice, prompt="waiting while nobody looks")
    page = logged_in
    requests = Requests(page)
    page.reload()
    expect(page.locator("[data-refresh-card]")).to_have_count(1)
    page.evaluate(HIDE % "hidden")
    requests.clear()
    page.wait_for_timeout(4_000)  # two periods of a visible tab
    assert requests.refreshes() == []
    shown = time.monotonic()
    with page.expect_request(re.compile(r"/refresh/\?card="), timeout=1_000):
        page.evaluate(HIDE % "visible")
    assert time.monotonic() - shown < 1.0


def test_a_hidden_tab_refreshes_slowly_when_a_page_part_asks_for_it(logged_in, alice):
    make_job_set(alice, prompt="waiting for a notification")
    page = logged_in
    page.reload()
    expect(page.locator("[data-refresh-card]")).to_have_count(1)
    page.evaluate("soulsiteRefresh.whileHidden(3000)")
    page.evaluate(HIDE % "hidden")
    hidden_at = page.evaluate("performance.now()")
    page.wait_for_timeout(7_000)
    starts = [start for start in page.evaluate(STARTS) if start > hidden_at]
    assert len(starts) == 2, starts  # at about 3 and 6 s: slower, through the one timer
    assert starts[1] - starts[0] >= 2_950


def test_a_new_card_after_generate_starts_the_refresh_again(logged_in, alice):
    page = logged_in
    requests = Requests(page)
    page.reload()
    page.wait_for_timeout(2_500)
    assert requests.refreshes() == []  # an empty gallery has nothing to refresh
    page.get_by_label("Prompt", exact=True).fill("a card that waits")  # no cluster: it stays waiting
    page.get_by_role("button", name=re.compile("^Generate")).click()
    expect(page.locator("[data-refresh-card]")).to_have_count(1)
    job_set = JobSet.objects.get(prompt="a card that waits")
    with page.expect_request(re.compile(rf"/refresh/\?card={job_set.pk}$"), timeout=4_000):
        pass


def test_the_queue_page_refreshes_its_list_in_the_same_request_and_stops(logged_in, live_server, alice):
    waiting = make_job_set(alice, prompt="waiting on the queue page")
    page = logged_in
    requests = Requests(page)
    page.goto(f"{live_server.url}/queue/")
    expect(page.get_by_text("Waiting here (1)")).to_be_visible()
    JobSet.objects.filter(pk=waiting.pk).update(status=JobSet.Status.CANCELED, charge=JobSet.Charge.RELEASED)
    expect(page.get_by_text("Waiting here (0)")).to_be_visible(timeout=5_000)
    asked = [url for _, url in requests.refreshes()]
    assert asked and all(urlsplit(url).query == "queue=1" for url in asked)
    assert [url for _, url in requests.seen if urlsplit(url).path == "/queue/"] == [
        f"{live_server.url}/queue/"
    ]
    requests.clear()
    page.wait_for_timeout(4_500)
    assert requests.seen == []
