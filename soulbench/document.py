"""docs/BENCHMARKS.md: the page a benchmark run writes, from the table and what each database measured."""

from __future__ import annotations

import time

from django.conf import settings

from soulbench import browser, machine, report, search, tracking


def page(header, cells, missed, collected, options, minutes) -> str:
    """The whole page: machine, table, targets missed, details, and how each number is measured."""
    small, large = options["sizes"]
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m soulbench`); run it again to refresh this page.",
        f"Numbers from one run on {time.strftime('%Y-%m-%d %H:%M %Z')}, which took {minutes:.1f} minutes.",
        "",
        "## Machine",
        "",
        machine.code_line(),
        *machine.facts(),
        *[f"- Database: {label}" for label, _ in collected],
        *machine.speed_lines(collected),
        "",
        "## Results",
        "",
        report.markdown(header, cells),
        "",
        "✓ target met, ✗ target missed. Page times are p50 / p95 of the server time.",
        "",
        "## Targets missed",
        "",
        *([f"- {line}" for line in missed] or ["None."]),
        "",
        "## Details",
        "",
    ]
    for label, results in collected:
        if results.get("skipped"):
            lines.append(f"- {label}: skipped ({results['skipped']}).")
            continue
        lines.append(f"- **{label}**" + (f" ({results['error']})" if results.get("error") else ""))
        for key, page in results.get("web", {}).items():
            if isinstance(page, dict) and "sql_ms" in page:
                lines.append(
                    f"  - {key}: p95 {page['p95_ms']} ms; its {page['queries']} queries took "
                    f"{page['sql_ms']} ms (median of the counted requests); slowest query "
                    f"{page['slowest_ms']} ms: "
                    f"`{page['slowest_sql'][:160]}…`"
                )
        for key, run in results.get("upstream", {}).items():
            if isinstance(run, dict):
                shown = ", ".join(f"{name} {value}" for name, value in run.items() if name != "notes")
                lines.append(f"  - {key}: {shown}")
        memory = results.get("memory", {})
        if memory:
            lines.append("  - memory: " + ", ".join(f"{name} {value}" for name, value in memory.items()))
    lines += [
        "",
        "## Reading the numbers",
        "",
        "- A page's time minus its SQL time (in *Details*) is Python: middleware, the view, and "
        "rendering the templates (24 cards to a page, each with up to four images; the cards and the "
        "generate form are Jinja2 templates, the rest of the page Django's).",
        "- This is a shared virtual machine, and its speed changes from hour to hour: the *speed "
        "check* under *Machine* times the same Python loop before and after the page timings. Page "
        "times scale with it, so compare runs at similar speed checks.",
        "- An upstream request per job set is its submit; the rest are polls. Soul reports no progress "
        "while it works, so the tracker polls by a timetable learned from the last 40 job sets of that "
        "kind (`policy.timetable`): nothing before the quickest could finish, then every "
        f"{settings.SOUL_POLL_GAP:g} s (`SOUL_POLL_GAP`, widened up to 1.9 s when the spread is very "
        "wide) where job sets usually finish, 5 s through stretches where none did lately. "
        "A webhook brings the next poll forward; "
        "once callbacks are seen to arrive, polls are only a slow fallback.",
        "- Polling alone cannot meet both the lag and the requests target when the gateway takes a "
        "uniformly random 2-10 s. A finished job waits for the next poll, so keeping the 95th "
        "percentile of the lag under 2 s (about 1.8 s of it for the wait; the tracker's tick and the "
        "download take the rest) means gaps of at most about 1.8 s across the 8 s spread, save 5% of "
        "the jobs. With T the finishing time and polls at t1 < t2 < ..., the expected number of polls "
        "is 1 + P(T > t1) + P(T > t2) + ...; the best such schedule (the first poll at 4.25 s, then one "
        "every 1.85 s) needs about 2.5 polls, so at least 3.5 requests with the submit (3.35 even if "
        "the wait could take the whole 2 s). By default the tracker polls every 1.5 s rather than 1.8 s, "
        "for a margin under the lag target on a busy machine (a 1.8 s gap measured a lag p95 of 1.8 s "
        "and once a maximum over 2 s; 1.0 s cost about a request more per job set). "
        "Webhooks are how to get under 3.",
        "- *Here* a job set holds a slot from sending until soulsite has stored its images; *upstream* "
        "only until the gateway finished it. The drain starts with a history of 2-10 s job sets "
        "while the gateway now takes 0.5-1 s: what the tracker learns is when job sets were seen "
        "done, so only the probes (one job set in five polls first at half the usual time) show it "
        "the gateway got faster, and the learned time comes down over the first minutes; until "
        "then slots sit idle upstream while they wait for a poll.",
        "- The cluster's memory target is judged on PSS: RSS counts the pages its forked processes "
        "share (Django, loaded before the fork) once per process, so the sum overstates what the "
        "cluster takes from the machine; PSS divides each shared page among the processes sharing "
        "it, so the sum counts it once, as the kernel and systemd's accounting for the unit do.",
        "",
        "## How each number is measured",
        "",
        f"- **Data.** One person in one team owns every job set: {small:,}, then {large:,}, seeded with "
        "`bulk_create` (every fourth a batch of 4; about 90% completed, the rest failed, NSFW, canceled, "
        "unconfirmed or expired; generation times 2-10 s; one created every 5 minutes up to now, so "
        "100,000 span about a year and the current month holds the number shown beside *Seeding*). "
        "Each database is new and thrown away afterwards: "
        "a temporary SQLite file (ORM broker), and a PostgreSQL database `soulsite_bench` (Redis broker "
        "when Redis answers, in its own Redis database). PostgreSQL gets a `VACUUM ANALYZE` after seeding, "
        "as autovacuum does after a bulk insert on a server (so it does not run during the timings); "
        "SQLite gets nothing, as in a real install.",
        "- **Pages** are requested in-process with Django's test client as a logged-in person "
        f"({options['repetitions']} timed requests each after 5 warm-up ones; the chip twice as many): "
        "the time covers middleware, view, queries and templates but no network or web server. The test "
        "client keeps the database connection between requests, like `DB_CONN_MAX_AGE` > 0. Queries are "
        "counted on separate requests; *older cards* is `/?before=<id>` with `HX-Request`, at 20 depths "
        "spread through the job sets. The spend page is measured once a URL named `spend` exists.",
        f"- **Tracking lag**: {options['lag_job_sets']} job sets submitted over {options['lag_spread']:g} s "
        "to the sandbox gateway (in this process) finishing each after a random 2-10 s, tracked by a "
        "real `manage.py soul_cluster` subprocess (the default 2 workers, cap 4). Lag is per image, "
        "from the sandbox's "
        "`completed_at` to the job's `downloaded_at` (the image is stored by then). The sandbox draws "
        "each result while its job set runs, so that, as from Soul's CDN, a download is a file transfer "
        "(drawing a 2048×1536 image takes it 50-100 ms). *With webhooks*: "
        "gunicorn serves the app on a free port and `SOUL_PUBLIC_URL` points at it, so the sandbox calls "
        "back when a job set finishes; the database holds a callback received an hour earlier, as on a "
        "site whose gateway has been calling back (the tracker relies on callbacks, and polls less, only "
        "once it has seen one in the last day).",
        "- **Upstream requests** are submits plus polls the sandbox received, divided by finished job sets "
        "(result downloads go to the CDN and are not counted). *Idle*: with everything finished and the "
        f"cluster still running, the sandbox's request counter over {options['idle_seconds']:g} s.",
        f"- **Drain**: {options['drain']:,} single-image job sets created one after the other as fast as "
        "possible (each enqueues its send task, as the generate view does); the sandbox finishes each "
        "after 0.5-1 s and refuses more than 4 at once. Every 100 ms the number waiting and in flight is "
        "read from the database (and the number unfinished from the sandbox); *cap fully used* is the "
        "share of samples with 4 in flight among those where some were still waiting. "
        f"If they have not all drained after {options['drain_budget']:g} s (`--drain-budget`, so that "
        "`make bench` stays near 15 minutes; 0 waits for all), the rest are canceled and the time for "
        "all of them is projected from the rate so far.",
        "- **Pick-next**: the sender's whole choice and claim (`send.claim_next`: its lock row, the "
        "in-flight counts per person and team, the heads of the line, the pure fair-share "
        "rule and the conditional UPDATE), timed 200 times on a line of 10, then 1,000, then "
        "10,000 due job sets from 50 people in 5 teams with 3 already in flight and one slot free; "
        "each chosen one is put back untimed, so every pick sees the same line. Its people and job "
        "sets are removed before the rest is seeded. *Flat*: no more queries, and at most twice "
        "the time (or 10 ms more). "
        "The line's heads are read by a loose index scan (`generations/lifecycle/line.py`): a few index "
        "seeks per person with waiting work, none per job set. So the work grows with the number of "
        "people waiting (at most 10 in the line of 10, all 50 in the others), not with the line's "
        "length: 1,000 and 10,000 waiting from the same 50 people should cost the same. "
        "`--only pick-next` measures just this, without writing this page.",
        tracking.method(settings.SOUL_POLL_GAP),
        browser.method(),
        search.METHOD,
        "- **Memory**: VmRSS from `/proc`. The web worker is the largest gunicorn worker after it served "
        "the webhooks and 20 rounds of gallery, older cards and chip over HTTP; the cluster is the sum "
        "over all its processes (sentinel, monitor, pusher, workers) after the drain. RSS counts pages "
        "the forked processes share once per process; PSS shares them out.",
    ]
    return "\n".join(lines) + "\n"
