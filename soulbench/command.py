"""Measure soulsite on throw-away databases; print a table and write docs/BENCHMARKS.md.

`make bench` runs this. For each database (a temporary SQLite file; a PostgreSQL
database ``soulsite_bench`` created and dropped here, skipped with a line in the
table when PostgreSQL does not answer) a child process runs on that database
alone: it migrates, seeds job sets, times pages in-process, then starts the
sandbox, a real cluster and gunicorn to measure tracking, draining and memory.
Nothing here touches the configured database.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import django
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from soulbench import databases, report

CAP = 4
SPEED_CHECK_STEPS = 5_000_000
BENCH_USER, BENCH_PASSWORD = "bench", "bench-password-1"


class Command(BaseCommand):
    help = (
        "Seed throw-away databases, measure pages, tracking and memory; print a table, write BENCHMARKS.md."
    )
    requires_system_checks: list = []

    def add_arguments(self, parser):
        parser.add_argument(
            "--databases", default="sqlite,postgres", help="Which of sqlite,postgres to run on."
        )
        parser.add_argument(
            "--sizes", default="10000,100000", help="Job sets to seed: the smaller, the larger."
        )
        parser.add_argument("--repetitions", type=int, default=300, help="Requests per page timing.")
        parser.add_argument("--lag-job-sets", type=int, default=30)
        parser.add_argument("--lag-spread", type=float, default=30.0, help="Seconds to spread them over.")
        parser.add_argument("--idle-seconds", type=float, default=10.0)
        parser.add_argument("--drain", type=int, default=1000, help="Job sets submitted at once.")
        parser.add_argument(
            "--drain-budget",
            type=float,
            default=120.0,
            help="Seconds the drain may take per database before the rest is canceled and the time "
            "projected (0: wait for all).",
        )
        parser.add_argument(
            "--output",
            default=str(settings.BASE_DIR / "docs" / "BENCHMARKS.md"),
            help="Where to write the report; '' to only print it.",
        )
        parser.add_argument(
            "--keep-databases", action="store_true", help="Leave the throw-away databases, for a look."
        )
        parser.add_argument("--child", help=argparse.SUPPRESS)  # internal: measure here, write JSON there

    def handle(self, *args, **options):
        sizes = sorted(int(size) for size in options["sizes"].split(","))
        if len(sizes) != 2:
            raise CommandError("--sizes takes two numbers, e.g. 10000,100000")
        options["sizes"] = sizes
        if options["child"]:
            self._measure(options, Path(options["child"]))
        else:
            self._run(options)

    # --- The parent: one child per database, then the report ------------------------

    def _run(self, options):
        started = time.monotonic()
        folder = Path(tempfile.mkdtemp(prefix="soulsite-bench-"))
        wanted = [name.strip() for name in options["databases"].split(",") if name.strip()]
        targets = []
        if "sqlite" in wanted:
            targets.append(databases.sqlite_target(folder))
        if "postgres" in wanted:
            targets.append(databases.postgres_target())
        collected: list[tuple[str, dict]] = []
        try:
            for target in targets:
                if target.skipped:
                    self.stderr.write(f"== {target.label}: skipped, {target.skipped}")
                    collected.append((target.label, {"skipped": target.skipped}))
                    continue
                self.stderr.write(f"== {target.label}")
                databases.create(target)
                try:
                    collected.append((target.label, self._child(target, options, folder)))
                finally:
                    if options["keep_databases"]:
                        self.stderr.write(f"   kept {target.database_url}")
                    else:
                        databases.drop(target)
        finally:
            if not options["keep_databases"]:
                shutil.rmtree(folder, ignore_errors=True)
        minutes = (time.monotonic() - started) / 60
        header, cells = report.table(collected, options["sizes"])
        self.stdout.write("\n" + report.plain(header, cells) + "\n")
        missed = report.missed(collected, options["sizes"])
        if missed:
            self.stdout.write("Targets missed:\n" + "\n".join(f"  - {line}" for line in missed) + "\n")
        if options["output"]:
            page = _document(header, cells, missed, collected, options, minutes)
            Path(options["output"]).write_text(page)
            self.stdout.write(f"Wrote {options['output']} ({minutes:.1f} min).")

    def _child(self, target: databases.Target, options: dict, folder: Path) -> dict:
        out = folder / f"{target.key}.json"
        media = folder / f"media-{target.key}"
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("DATABASE_URL", "REDIS_URL", "SOUL_PUBLIC_URL")
        }
        env.update(
            DATABASE_URL=target.database_url,
            MEDIA_ROOT=str(media),
            DJANGO_DEBUG="0",
            LOG_LEVEL="WARNING",
            SOUL_SANDBOX="1",
            SOUL_API_KEY="bench",
        )
        if target.redis_url:
            env["REDIS_URL"] = target.redis_url
        command = [sys.executable, str(settings.BASE_DIR / "manage.py"), "soul_bench", "--child", str(out)]
        for name in ("repetitions", "lag_job_sets", "lag_spread", "idle_seconds", "drain", "drain_budget"):
            command += [f"--{name.replace('_', '-')}", str(options[name])]
        command += ["--sizes", ",".join(str(size) for size in options["sizes"])]
        finished = subprocess.run(command, env=env, cwd=settings.BASE_DIR, check=False)
        results = json.loads(out.read_text()) if out.exists() else {}
        if finished.returncode != 0:
            results["error"] = f"the measuring process exited with {finished.returncode}"
            self.stderr.write(f"   {target.label}: {results['error']}; the table shows what it measured")
        results["label"] = target.label
        return results

    # --- The child: everything on this process's (throw-away) database -------------------

    def _measure(self, options: dict, out: Path) -> None:
        from django.contrib.auth import get_user_model
        from django.db import connection
        from django.urls import NoReverseMatch, reverse

        from soulbench import seed, web

        logging.getLogger("django-q").setLevel(logging.WARNING)
        results: dict = {"sizes": options["sizes"], "vendor": connection.vendor}

        def save():
            out.write_text(json.dumps(results, indent=1, default=str))

        def say(message: str):
            self.stderr.write(f"   [{connection.vendor}] {message}")

        say("migrating")
        call_command("migrate", verbosity=0, interactive=False)
        user = get_user_model().objects.create_user(BENCH_USER, password=BENCH_PASSWORD)
        team = _team_for(user)
        rng = random.Random(20261124)
        small, large = options["sizes"]
        client = web.client_for(user)
        results["web"] = {}
        results["speed_check_s"] = [_speed_check()]
        seconds = 0.0
        for label, size, first in (("small", small, 0), ("large", large, small)):
            say(f"seeding up to {size:,} job sets")
            begun = time.monotonic()
            seed.seed(user, team, first, size - first, large, rng)
            seconds += time.monotonic() - begun
            _analyze(connection)
            say(f"timing pages at {size:,} job sets")
            results["web"][f"gallery_{label}"] = web.measure(client, ["/"], options["repetitions"]).as_dict()
            results["web"][f"older_{label}"] = web.measure(
                client, _older_paths(user, 20), options["repetitions"], htmx=True
            ).as_dict()
            save()
        from django.utils import timezone

        from generations.models import Job, JobSet

        month_start = timezone.localtime().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        results["seed"] = {
            "job_sets": JobSet.objects.count(),
            "jobs": Job.objects.count(),
            "this_month": JobSet.objects.filter(created_at__gte=month_start).count(),
            "seconds": round(seconds, 1),
        }
        results["web"]["chip_large"] = web.measure(
            client, ["/spend/chip/"], options["repetitions"] * 2, htmx=True
        ).as_dict()
        try:
            spend = reverse("spend")
        except NoReverseMatch:
            results["web"]["spend_large"] = {"missing": "not built yet"}
        else:
            results["web"]["spend_large"] = web.measure(client, [spend], options["repetitions"]).as_dict()
        results["speed_check_s"].append(_speed_check())
        save()
        self._measure_upstream(options, results, user, team, rng, say, save)
        save()

    def _measure_upstream(self, options, results, user, team, rng, say, save) -> None:
        from django.db import connection

        from soulbench import processes, upstream
        from soulsandbox.server import SandboxConfig, SandboxServer

        # The cluster's and gunicorn's logs stay after the run, for a look when a number is odd.
        logs = settings.VAR_DIR / "bench-logs" / connection.vendor
        shutil.rmtree(logs, ignore_errors=True)
        logs.mkdir(parents=True)
        results["logs"] = str(logs)
        sandbox = SandboxServer(SandboxConfig(queue_seconds=1.0, complete_seconds="2-10")).start()
        env = {
            "SOUL_SANDBOX": "1",
            "SOUL_API_KEY": "bench",
            "SOUL_API_BASE_URL": sandbox.url,
            "SOUL_MAX_IN_FLIGHT": str(CAP),
            "SOUL_PUBLIC_URL": "",
        }
        settings.SOUL_PUBLIC_URL = ""
        found = results["upstream"] = {}
        memory = results["memory"] = {}
        try:
            say("tracking lag, polling only")
            cluster = processes.start_cluster(logs / "cluster-1.log", **env)
            try:
                found["lag_polling"] = vars(
                    upstream.lag_run(sandbox, user, team, options["lag_job_sets"], options["lag_spread"], rng)
                )
                save()
                say(f"requests while idle ({options['idle_seconds']:g} s)")
                found["idle_requests"] = upstream.idle_requests(sandbox, options["idle_seconds"])
                found["idle_seconds"] = options["idle_seconds"]
                save()
                say(f"draining {options['drain']:,} job sets at cap {CAP}")
                found["drain"] = vars(
                    upstream.drain(sandbox, user, team, options["drain"], CAP, rng, options["drain_budget"])
                )
                members = processes.group_members(cluster.pid)
                memory["cluster_processes"] = len(members)
                memory["cluster_rss_mb"] = round(sum(processes.rss_mb(pid) for pid in members), 1)
                memory["cluster_pss_mb"] = round(sum(processes.pss_mb(pid) for pid in members), 1)
                save()
            finally:
                cluster.stop()

            say("tracking lag, with webhooks")
            upstream.callbacks_seen_lately()
            web_server, url = processes.start_gunicorn(logs / "web.log", workers=2, **env)
            settings.SOUL_PUBLIC_URL = url
            cluster = processes.start_cluster(logs / "cluster-2.log", **{**env, "SOUL_PUBLIC_URL": url})
            try:
                found["lag_webhooks"] = vars(
                    upstream.lag_run(sandbox, user, team, options["lag_job_sets"], options["lag_spread"], rng)
                )
                save()
                say("web worker memory after serving pages")
                _browse(url, user)
                workers = processes.children_of(web_server.pid)
                memory["web_workers"] = len(workers)
                memory["web_worker_rss_mb"] = round(max(processes.rss_mb(pid) for pid in workers), 1)
                memory["web_master_rss_mb"] = round(processes.rss_mb(web_server.pid), 1)
            finally:
                cluster.stop()
                web_server.stop()
                settings.SOUL_PUBLIC_URL = ""
        finally:
            sandbox.stop()


def _team_for(user):
    """The bench user's team, when this version of soulsite has teams."""
    try:
        from generations import teams
        from generations.models import Membership, Team
    except ImportError:
        return None
    team, _ = Team.objects.get_or_create(name="Bench")
    teams.add_member(team, user, Membership.Role.MANAGER)
    return team


def _analyze(connection) -> None:
    # PostgreSQL's autovacuum vacuums and analyzes a table within a minute of a bulk insert on
    # a real server; do it now, or it would run in the middle of the timings. SQLite keeps no
    # statistics unless asked, and soulsite never asks.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")


def _older_paths(user, count: int) -> list[str]:
    """`/?before=<id>` at ``count`` depths spread through the person's job sets."""
    from generations.models import JobSet

    ids = list(JobSet.objects.filter(user=user).order_by("id").values_list("id", flat=True))
    step = max(1, len(ids) // (count + 1))
    return [f"/?before={ids[n]}" for n in range(step, len(ids), step)][:count]


def _browse(url: str, user) -> None:
    """Log in over HTTP and load the pages a person loads, so the worker has done real work."""
    import re

    import requests

    session = requests.Session()
    page = session.get(f"{url}/accounts/login/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    session.post(
        f"{url}/accounts/login/",
        data={"username": BENCH_USER, "password": BENCH_PASSWORD, "csrfmiddlewaretoken": token},
        timeout=30,
    )
    older = _older_paths(user, 10)
    for n in range(20):  # two workers: each gets about half
        session.get(f"{url}/", timeout=30)
        session.get(f"{url}{older[n % len(older)]}", headers={"HX-Request": "true"}, timeout=30)
        session.get(f"{url}/spend/chip/", headers={"HX-Request": "true"}, timeout=30)


def _speed_check() -> float:
    """Seconds for a fixed pure-Python loop, run before and after the page timings.

    A shared virtual machine does not run at one speed: the same loop has taken a third longer
    from one hour to the next. Printed beside the results, it tells how fast the machine was
    while the pages were timed, so runs on different days can be compared fairly.
    """
    started = time.perf_counter()
    total = 0
    for step in range(SPEED_CHECK_STEPS):
        total += step
    return round(time.perf_counter() - started, 3)


def _speed_lines(collected) -> list[str]:
    checks = [
        f"{label} {' / '.join(f'{seconds:.2f}' for seconds in results['speed_check_s'])} s"
        for label, results in collected
        if results.get("speed_check_s")
    ]
    if not checks:
        return []
    return [
        f"- Speed check (a fixed {SPEED_CHECK_STEPS:,}-step Python loop before / after the page "
        f"timings; lower is faster): {'; '.join(checks)}"
    ]


def _machine() -> list[str]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            names = [line.split(":", 1)[1].strip() for line in info if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    memory = ""
    try:
        with open("/proc/meminfo") as info:
            total = next(line for line in info if line.startswith("MemTotal"))
        memory = f"{int(total.split()[1]) / 1024 / 1024:.1f} GB"
    except (OSError, StopIteration):
        pass
    import sqlite3

    return [
        f"- CPU: {os.cpu_count()} × {cpu}",
        f"- Memory: {memory or 'unknown'}",
        f"- OS: {platform.platform()}",
        f"- Python {platform.python_version()}, Django {django.get_version()}, "
        f"SQLite {sqlite3.sqlite_version}",
    ]


def _document(header, cells, missed, collected, options, minutes) -> str:
    small, large = options["sizes"]
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python manage.py soul_bench`); run it again to refresh this page.",
        f"Numbers from one run on {time.strftime('%Y-%m-%d %H:%M %Z')}, which took {minutes:.1f} minutes.",
        "",
        "## Machine",
        "",
        *_machine(),
        *[f"- Database: {label}" for label, _ in collected],
        *_speed_lines(collected),
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
        "while it works, so the tracker polls by the clock it learned: first when the quickest tenth of "
        f"recent job sets of that kind were done, then every {settings.SOUL_POLL_GAP:g} s (`SOUL_POLL_GAP`) "
        "until the slowest tenth were, then more slowly. A webhook brings the next poll forward; "
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
        "- **Memory**: VmRSS from `/proc`. The web worker is the largest gunicorn worker after it served "
        "the webhooks and 20 rounds of gallery, older cards and chip over HTTP; the cluster is the sum "
        "over all its processes (sentinel, monitor, pusher, workers) after the drain. RSS counts pages "
        "the forked processes share once per process; PSS shares them out.",
    ]
    return "\n".join(lines) + "\n"
