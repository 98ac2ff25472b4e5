"""A measuring child: everything on this process's (throw-away) database, written to a JSON file.

It migrates, seeds job sets and times pages in-process at the smaller and the larger
size (``seed``, ``web``), then measures tracking, draining and memory with real
processes (``live``). The JSON file is rewritten after each step, so that a run that
fails half-way still reports what it measured.
"""

from __future__ import annotations

import json
import logging
import random
import sys
import time
from pathlib import Path

from django.core.management import call_command
from django.db import connection
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from generations.models import Job, JobSet
from soulbench import browser, live, machine, picknext, search, seed, tracking, web

SEED = 20261124


def measure(options: dict, out: Path) -> None:
    logging.getLogger("django-q").setLevel(logging.WARNING)
    results: dict = {"sizes": options["sizes"], "vendor": connection.vendor}

    def save():
        out.write_text(json.dumps(results, indent=1, default=str))

    def say(message: str):
        print(f"   [{connection.vendor}] {message}", file=sys.stderr, flush=True)

    say("migrating")
    call_command("migrate", verbosity=0, interactive=False)
    say("timing pick-next at 10 and 10,000 waiting job sets from 50 people")
    results["pick_next"] = picknext.measure(random.Random(SEED))
    save()
    only = options.get("only", "all")
    if only == "pick-next":
        return
    if only in ("search", "tracking", "browser"):
        _measure_one(only, results, rng=random.Random(SEED), say=say)
        save()
        return
    user, team = seed.bench_person()
    rng = random.Random(SEED)
    small, large = options["sizes"]
    client = web.client_for(user)
    results["web"] = {}
    results["speed_check_s"] = [machine.speed_check()]
    seconds = 0.0
    for label, size, first in (("small", small, 0), ("large", large, small)):
        say(f"seeding up to {size:,} job sets")
        begun = time.monotonic()
        seed.seed(user, team, first, size - first, large, rng)
        seconds += time.monotonic() - begun
        _analyze()
        say(f"timing pages at {size:,} job sets")
        results["web"][f"gallery_{label}"] = web.measure(client, ["/"], options["repetitions"]).as_dict()
        results["web"][f"older_{label}"] = web.measure(
            client, web.older_paths(user, 20), options["repetitions"], htmx=True
        ).as_dict()
        save()

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
    results["speed_check_s"].append(machine.speed_check())
    save()
    live.measure(options, results, user, team, rng, say, save)
    save()
    results["tracking"] = tracking.measure(rng, say, user, team, Path(results["logs"]))
    save()
    say("the browser: one tab with 30 job sets waiting, then finishing")
    results["browser"] = browser.measure(say)
    save()
    # Last: it adds up to a million job sets of its own, left in this throw-away database.
    results["search"] = search.measure(random.Random(SEED), say, keep=True)
    save()


def _measure_one(part: str, results: dict, rng: random.Random, say) -> None:
    """One of the later parts alone (``--only``), on its own people and job sets."""
    if part == "search":
        results["search"] = search.measure(rng, say, keep=True)
    elif part == "tracking":
        user, team = seed.bench_person()
        results["tracking"] = tracking.measure(rng, say, user, team)
    else:
        results["browser"] = browser.measure(say)


def _analyze() -> None:
    # PostgreSQL's autovacuum vacuums and analyzes a table within a minute of a bulk insert on
    # a real server; do it now, or it would run in the middle of the timings. SQLite keeps no
    # statistics unless asked, and soulsite never asks.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
