"""The browser's numbers: what one gallery tab asks of the server, and how soon a stored image shows.

The real site runs as it does in production: gunicorn serves it, a django-q2 cluster sends and
tracks the job sets, and the sandbox gateway (in this process) makes the images. Chromium, driven
by Playwright, opens the gallery of a person with 30 pending job sets and stays on it, untouched,
while they wait, while the cluster works through them, and after the last one is done.

- Requests: every request the tab makes is recorded with its time (Playwright's ``request``
  event). The page's one refresh (``/refresh/``) is counted apart from everything else, and
  card polls (``/job-sets/<id>/card/``, the way each card used to ask for itself) apart again.
- Stored-to-visible, per image: *stored* is the job's ``downloaded_at`` in the database, written
  when its file and preview are saved; *visible* is the moment an ``<img>`` for that job
  (``/images/<id>/``) is added to the page's DOM, seen by a MutationObserver installed before the
  page's own scripts and stamped ``performance.timeOrigin + performance.now()``. Both are wall
  clocks of the same machine. When the image finished loading is recorded too.
"""

from __future__ import annotations

import random
import shutil
import time
from dataclasses import asdict, dataclass

from django.conf import settings
from django.db import connection
from django.db.models import Count

from generations.actions import teams as team_actions
from generations.models import Job, JobSet, Membership, Team
from soulbench import processes, upstream
from soulbench.rows import NOT_RUN, Row, get
from soulbench.web import percentile
from soulsandbox.server import SandboxConfig, SandboxServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu"]
JOB_SETS = 30
CAP = 8  # job sets with the gateway at once: 30 of 2-10 s drain in about half a minute
WAITING_SECONDS = 10.0  # the tab watched while all 30 wait, before the cluster starts
QUIET_SECONDS = 6.0  # the tab watched after everything is done and shown
FINISH_TIMEOUT = 240.0
USERNAME, PASSWORD = "browser-bench", "browser-bench-password-1"
SEED = 20261206

# Before any of the page's scripts: note when each job's <img> enters the DOM, and when it loads.
OBSERVER = """
(() => {
  performance.setResourceTimingBufferSize(5000);
  const now = () => performance.timeOrigin + performance.now();
  const seen = (window.__seen = {}), loaded = (window.__loaded = {});
  const job = (img) => {
    const m = /\\/images\\/(\\d+)\\//.exec(img.getAttribute("src") || "");
    return m && m[1];
  };
  const note = (img) => { const id = job(img); if (id && !(id in seen)) seen[id] = now(); };
  new MutationObserver((changes) => {
    for (const change of changes) for (const node of change.addedNodes) {
      if (node.nodeType !== 1) continue;
      if (node.tagName === "IMG") note(node);
      node.querySelectorAll("img").forEach(note);
    }
  }).observe(document, { childList: true, subtree: true });
  document.addEventListener("load", (event) => {
    const id = event.target.tagName === "IMG" && job(event.target);
    if (id && !(id in loaded)) loaded[id] = now();
  }, true);
})();
"""

# Every request the page made (Resource Timing: fetches and images alike), on the page's own clock.
# Playwright's request events are not used for timing: they reach Python in bursts whenever it
# was busy (starting the cluster takes seconds), which would show two requests at the same moment.
REQUESTS = """
performance.getEntriesByType("resource").map((e) => ({
  path: new URL(e.name).pathname,
  cards: new URL(e.name).searchParams.getAll("card").length,
  start: e.startTime,
  ms: e.responseEnd - e.startTime,
  size: e.encodedBodySize,
  decoded: e.decodedBodySize,
}))
"""
STATIC = "/static/"


@dataclass
class Phase:
    """What the tab asked during one stretch of time."""

    seconds: float
    refreshes: int
    refreshes_per_s: float
    shortest_gap_s: float | None  # between two refreshes
    card_polls: int
    other_requests: int  # images, mostly
    pending_cards_asked: int  # the most cards one refresh named


def measure(say, job_sets: int = JOB_SETS) -> dict:
    """Run the site, open the gallery in Chromium, and return what the tab did and how soon images showed."""
    from playwright.sync_api import sync_playwright

    logs = settings.VAR_DIR / "bench-logs" / connection.vendor / "browser"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    user, team = _person()
    sandbox = SandboxServer(SandboxConfig(queue_seconds=1.0, complete_seconds="2-10")).start()
    env = upstream.sandbox_env(sandbox.url, CAP)
    rng = random.Random(SEED)
    web_server = cluster = None
    results: dict = {"job_sets": job_sets, "cap": CAP, "logs": str(logs)}
    try:
        say("browser: starting gunicorn")
        web_server, url = processes.start_gunicorn(logs / "web.log", workers=2, **env)
        # Made before any cluster runs, so all of them wait: the tab opens on 30 pending cards.
        pks = [upstream.create(user, team, n, rng) for n in range(job_sets)]
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.set_default_timeout(30_000)
                page.add_init_script(OBSERVER)
                _log_in(page, url)
                page.goto(f"{url}/")
                _open_every_card(page, job_sets)
                say(f"browser: {job_sets} job sets waiting, watching the tab for {WAITING_SECONDS:g} s")
                marks = [_now(page)]
                page.wait_for_timeout(WAITING_SECONDS * 1000)
                marks.append(_now(page))
                say("browser: starting the cluster; watching until every card is final")
                cluster = processes.start_cluster(logs / "cluster.log", **env)
                results["finished"] = _wait_until_final(page, FINISH_TIMEOUT)
                marks.append(_now(page))
                say(f"browser: all final; watching the quiet tab for {QUIET_SECONDS:g} s")
                page.wait_for_timeout(QUIET_SECONDS * 1000)
                marks.append(_now(page))
                entries = page.evaluate(REQUESTS)
                for name, begin, end in zip(("waiting", "working", "quiet"), marks, marks[1:], strict=False):
                    results[name] = asdict(_phase(entries, begin, end))
                results["refresh_answers"] = _answers(entries, marks[0])
                shown, loaded = page.evaluate("[window.__seen, window.__loaded]")
            finally:
                browser.close()
        results["delays"] = _delays(pks, shown, loaded)
    finally:
        if cluster is not None:
            cluster.stop()
        if web_server is not None:
            web_server.stop()
        sandbox.stop()
    return results


def _person():
    """Its own person in its own team, so the gallery shows this run's 30 job sets and nothing else."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(USERNAME, password=PASSWORD)
    team = Team.objects.create(name="Browser bench")
    team_actions.add_member(team, user, Membership.Role.MANAGER)
    return user, team


def _log_in(page, url: str) -> None:
    page.goto(f"{url}/accounts/login/")
    page.get_by_label("Username").fill(USERNAME)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{url}/")


def _open_every_card(page, count: int) -> None:
    """The first page holds 24 cards: open the older ones too, as someone scrolling down would."""
    cards = page.locator("[data-refresh-card]")
    deadline = time.monotonic() + 30
    while cards.count() < count and time.monotonic() < deadline:
        # "Show older" loads by itself once scrolled into view (hx-trigger "revealed"), and is
        # then replaced: scroll to it rather than click, which could wait on a link going away.
        page.evaluate("document.querySelector('.more') && document.querySelector('.more').scrollIntoView()")
        page.wait_for_timeout(300)
    if cards.count() < count:
        raise RuntimeError(f"the gallery shows {cards.count()} pending cards, not {count}")


def _wait_until_final(page, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if page.locator("[data-refresh-card]").count() == 0:
            return True
        page.wait_for_timeout(250)
    return False


def _now(page) -> float:
    return page.evaluate("performance.now()")


def _phase(entries: list[dict], begin: float, end: float) -> Phase:
    """What the tab asked from ``begin`` to ``end`` (ms on the page's clock)."""
    asked = [
        entry for entry in entries if begin <= entry["start"] < end and not entry["path"].startswith(STATIC)
    ]
    refreshes = sorted(entry["start"] for entry in asked if entry["path"] == "/refresh/")
    polls = [entry for entry in asked if entry["path"].endswith("/card/")]
    gaps = [(later - earlier) / 1000 for earlier, later in zip(refreshes, refreshes[1:], strict=False)]
    seconds = (end - begin) / 1000
    return Phase(
        seconds=round(seconds, 1),
        refreshes=len(refreshes),
        refreshes_per_s=round(len(refreshes) / seconds, 3) if seconds else 0.0,
        shortest_gap_s=round(min(gaps), 2) if gaps else None,
        card_polls=len(polls),
        other_requests=len(asked) - len(refreshes) - len(polls),
        pending_cards_asked=max((e["cards"] for e in asked if e["path"] == "/refresh/"), default=0),
    )


def _answers(entries: list[dict], begin: float) -> dict:
    """The refresh answers' times (asked to last byte) and the size of the one naming the most cards."""
    answers = [entry for entry in entries if entry["path"] == "/refresh/" and entry["start"] >= begin]
    if not answers:
        return {"count": 0}
    largest = max(answers, key=lambda entry: (entry["cards"], entry["size"]))
    times = [entry["ms"] for entry in answers]
    return {
        "count": len(answers),
        "p50_ms": round(percentile(times, 0.5), 1),
        "p95_ms": round(percentile(times, 0.95), 1),
        "largest_cards": largest["cards"],
        "largest_kb": round(largest["size"] / 1024, 1),  # as sent (compressed)
        "largest_markup_kb": round(largest["decoded"] / 1024, 1),
    }


def _delays(pks: list[int], shown: dict, loaded: dict) -> dict:
    """Per stored image: seconds from ``downloaded_at`` to its <img> in the DOM (and to loaded)."""
    stored = dict(
        Job.objects.filter(job_set_id__in=pks, downloaded_at__isnull=False).values_list("pk", "downloaded_at")
    )
    visible = [shown[str(pk)] / 1000 - at.timestamp() for pk, at in stored.items() if str(pk) in shown]
    drawn = [loaded[str(pk)] / 1000 - at.timestamp() for pk, at in stored.items() if str(pk) in loaded]
    statuses = dict(
        JobSet.objects.filter(pk__in=pks).values("status").annotate(n=Count("id")).values_list("status", "n")
    )
    return {
        "images_stored": len(stored),
        "images_seen": len(visible),
        "visible_p50_s": round(percentile(visible, 0.5), 3),
        "visible_p95_s": round(percentile(visible, 0.95), 3),
        "visible_max_s": round(max(visible, default=0.0), 3),
        "visible_min_s": round(min(visible, default=0.0), 3),
        "loaded_count": len(drawn),
        "loaded_p50_s": round(percentile(drawn, 0.5), 3),
        "loaded_p95_s": round(percentile(drawn, 0.95), 3),
        "job_set_statuses": statuses,
    }


# --- The table and the page --------------------------------------------------------------


def rows() -> list[Row]:
    """The benchmark table's rows for ``results["browser"]``."""

    def run(results: dict, key: str):
        return get(results, "browser", key)

    def waiting_rate(results):
        phase = run(results, "waiting")
        if phase is None:
            return NOT_RUN, None
        text = (
            f"{phase['refreshes_per_s']:.2f}/s ({phase['refreshes']} in {phase['seconds']:g} s, "
            f"{phase['pending_cards_asked']} cards each; shortest gap {phase['shortest_gap_s']} s), "
            f"{phase['card_polls']} card polls"
        )
        return text, _one_per_two_seconds(phase)

    def working_rate(results):
        phase = run(results, "working")
        if phase is None:
            return NOT_RUN, None
        text = (
            f"{phase['refreshes_per_s']:.2f}/s ({phase['refreshes']} in {phase['seconds']:g} s; "
            f"shortest gap {phase['shortest_gap_s']} s), {phase['card_polls']} card polls, "
            f"{phase['other_requests']} images"
        )
        finished = run(results, "finished")
        if finished is False:
            text += ", did not finish"
        return text, _one_per_two_seconds(phase) and finished is not False

    def quiet(results):
        phase = run(results, "quiet")
        if phase is None:
            return NOT_RUN, None
        total = phase["refreshes"] + phase["card_polls"] + phase["other_requests"]
        return f"{total} in {phase['seconds']:g} s", total == 0

    def delay(results):
        found = run(results, "delays")
        if found is None:
            return NOT_RUN, None
        text = (
            f"{found['visible_p50_s']:.2f} / {found['visible_p95_s']:.2f} s "
            f"({found['images_seen']} of {found['images_stored']} images; loaded "
            f"{found['loaded_p50_s']:.2f} / {found['loaded_p95_s']:.2f} s)"
        )
        met = found["images_seen"] == found["images_stored"] > 0 and found["visible_p95_s"] < 2.5
        return text, met

    def answers(results):
        found = run(results, "refresh_answers")
        if not found or not found.get("count"):
            return NOT_RUN, None
        text = (
            f"{found['p50_ms']:.0f} / {found['p95_ms']:.0f} ms; {found['largest_kb']:.1f} KB sent "
            f"({found.get('largest_markup_kb', 0):.0f} KB of markup) for {found['largest_cards']} cards"
        )
        return text, None

    return [
        Row("Browser: requests a second, 30 job sets waiting (one tab)", "≤ 1 per 2 s", waiting_rate),
        Row("Browser: requests a second while they finish", "≤ 1 per 2 s", working_rate),
        Row("Browser: requests once nothing is pending", "0", quiet),
        Row("Browser: stored-to-visible delay per image (p50 / p95)", "p95 < 2.5 s", delay),
        Row("Browser: refresh answer, asked to last byte (p50 / p95)", "", answers),
    ]


def _one_per_two_seconds(phase: dict) -> bool:
    # The page starts a refresh 2 s after the last one started (later if the answer took longer):
    # judged by the shortest gap, with 50 ms for the timers' jitter, and the count over the span.
    gap = phase["shortest_gap_s"]
    count_ok = phase["refreshes"] <= phase["seconds"] / 2 + 1
    return phase["card_polls"] == 0 and count_ok and (gap is None or gap >= 1.95)


def method() -> str:
    """How the browser rows are measured (a paragraph of docs/BENCHMARKS.md)."""
    return (
        f"- **Browser**: gunicorn (2 workers), a django-q2 cluster (cap {CAP}) and the sandbox gateway "
        f"(2-10 s a job set) run the real site; Chromium (Playwright, `{CHROMIUM}`) logs in as a person "
        f"whose team has {JOB_SETS} job sets waiting (every fourth of 4 images), opens the gallery and "
        "its older cards, and is left alone. Every request the tab makes is recorded with its time: "
        f"for {WAITING_SECONDS:g} s while all wait (no cluster yet), then from the cluster's start until "
        f"no card is pending, then {QUIET_SECONDS:g} s more. The page's one refresh (`/refresh/`) is "
        "counted apart from card polls (`/job-sets/<id>/card/`, which each card used to send every 2 s) "
        "and from the rest (images). *Stored-to-visible* is per image: from the job's `downloaded_at` "
        "in the database (its file and preview saved) to the moment an `<img>` for it entered the page's "
        "DOM, seen by a MutationObserver installed before the page's scripts and stamped "
        "`performance.timeOrigin + performance.now()` (both wall clocks of one machine); *loaded* is "
        "when that image's `load` event fired. A refresh every 2 s makes the wait for the next one "
        "uniform over 0-2 s, plus the answer's own time."
    )
