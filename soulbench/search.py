"""Prompt search at 100,000 and 1,000,000 job sets: the gallery with ``?q=`` for four kinds of term.

Its own person and team own every job set seeded here, so the rest of the run's rows do not
change what it measures, and it removes them afterwards (unless asked to keep them). Rows go
in as fast as each database takes them: one ``executemany`` in one transaction on SQLite (the
search index's triggers fill it as they go), ``COPY`` on PostgreSQL with the trigram index
dropped and built again afterwards (its build time is reported). Every column is written from
a template job set the model itself fills, so a field added later needs nothing here.

The prompts read like real ones: a subject and a place, one to three style phrases, a year in
three of ten, and a rare word in one of 20,000. The four kinds of term, and two short ones:

- *common*: a word in about one prompt in seven ("portrait");
- *rare*: a word in about one in 20,000 ("axolotl": 5 at 100,000, 50 at 1,000,000);
- *absent*: a word in none ("quokka");
- *number*: a year, in about one in 420 ("1987"): too many rows to look up cheaply one by one,
  too few for the newest-first scan to fill a page soon; the hardest kind for either way;
- *short*: one letter ("a", in nearly every prompt) and two letters in none ("zq"), which no
  trigram index can answer (no target: the second reads the whole team's rows).
"""

from __future__ import annotations

import random
import time
import uuid
from datetime import timedelta
from urllib.parse import quote

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from generations.actions import teams
from generations.models import Job, JobSet, Membership, Price, Team
from generations.queries import search as prompt_search
from soulbench import web
from soulbench.rows import NOT_RUN, Row

SIZES = (100_000, 1_000_000)
# Timed requests per term: a 95th percentile of 30 is their second slowest, one stall on a shared
# machine away from the next; of 200 it is the tenth slowest (about 8 s a term at 40 ms each).
REPETITIONS = 200
# The short terms have no target, and the absent one reads the whole team (a second a request at
# 1,000,000 on PostgreSQL): fewer requests tell their time well enough.
SHORT_REPETITIONS = 30
TARGET_MS = 50
TERMS = {"common": "portrait", "rare": "axolotl", "absent": "quokka", "number": "1987"}
SHORT_TERMS = {"short_common": "a", "short_absent": "zq"}
# The same page with no term: what rendering costs on this machine, beside which to read the rest.
BASELINE = {"no_term": ""}
# What the gallery's search box sends as a person types (templates/generations/partials/filters.html):
# htmx asks for the gallery section alone and swaps it in. The whole page at the search's address
# (opened from a link, or reloaded) is timed too, with half as many requests: it adds the generate
# form and the page around it, the same with a term or without one.
SEARCH_BOX = {
    "HTTP_HX_REQUEST": "true",
    "HTTP_HX_TARGET": "gallery-section",
    "HTTP_HX_TRIGGER_NAME": "q",
    "HTTP_HX_CURRENT_URL": "http://testserver/",
}
# One job set every 30 seconds: 1,000,000 cover about a year of a busy team.
SPACING = timedelta(seconds=30)

SUBJECTS = (
    "portrait of a violinist",
    "portrait of an old fisherman",
    "portrait of a young woman",
    "a red fox",
    "an old lighthouse",
    "a glass teapot",
    "a cat",
    "a robot gardener",
    "a medieval market",
    "a quiet library",
    "mountains",
    "a sailing ship",
    "a dragon",
    "a vintage car",
    "a bowl of ramen",
    "a city skyline",
    "a forest path",
    "a desert caravan",
    "an astronaut",
    "a jazz band",
)
PLACES = (
    "in fresh snow",
    "at dusk",
    "after rain",
    "above the clouds",
    "on a windowsill",
    "in a greenhouse",
    "by the sea",
    "in Tokyo",
    "in a neon street",
    "at golden hour",
    "under the stars",
    "in the fog",
    "in a sunflower field",
    "on Mars",
)
STYLES = (
    "cinematic lighting",
    "film grain",
    "soft focus",
    "ultra detailed",
    "watercolor",
    "oil painting",
    "35mm photo",
    "studio lighting",
    "high contrast",
    "pastel colors",
    "moody",
    "hyperrealistic",
    "Kodak Portra 400",
    "shot on Leica",
    "wide angle",
    "bokeh",
)
RARE_WORDS = ("axolotl", "narwhal", "zeppelin", "origami crane", "ouroboros")


def prompt(rng: random.Random) -> str:
    parts = [f"{rng.choice(SUBJECTS)} {rng.choice(PLACES)}"]
    parts += rng.sample(STYLES, rng.randint(1, 3))
    if rng.random() < 0.3:
        parts.append(f"in {rng.randint(1900, 2025)}")
    if rng.random() < 1 / 4000:
        parts.append(rng.choice(RARE_WORDS))
    return ", ".join(parts)


def measure(rng: random.Random, say, sizes=SIZES, repetitions: int = REPETITIONS, keep: bool = False) -> dict:
    """Seed up to each of ``sizes`` job sets, time each term at each size; results as a dict."""
    user, team = _person()
    client = web.client_for(user)
    results: dict = {"sizes": list(sizes), "seed_seconds": {}, "pages": {}, "matches": {}}
    try:
        seeded = 0
        for size in sizes:
            say(f"search: seeding up to {size:,} job sets")
            started = time.monotonic()
            _seed(user, team, seeded, size - seeded, max(sizes), rng, results)
            results["seed_seconds"][str(size)] = round(time.monotonic() - started, 1)
            seeded = size
            say(f"search: timing {len(TERMS) + len(SHORT_TERMS)} terms at {size:,} job sets")
            for kind, term in {**BASELINE, **TERMS, **SHORT_TERMS}.items():
                path = f"/?q={quote(term)}" if term else "/"
                count = min(repetitions, SHORT_REPETITIONS) if kind in SHORT_TERMS else repetitions
                timing = web.measure(client, [path], count, warmup=3, headers=SEARCH_BOX)
                results["pages"][f"{kind}_{size}"] = timing.as_dict()
                if kind not in SHORT_TERMS:
                    whole = web.measure(client, [path], max(1, count // 2), warmup=3)
                    results["pages"][f"{kind}_{size}_page"] = whole.as_dict()
                if term:
                    matching = JobSet.objects.filter(team=team, prompt__icontains=term)
                    results["matches"][f"{kind}_{size}"] = matching.count()
    finally:
        if not keep:
            say("search: removing its job sets")
            _remove(user, team)
    return results


def _person():
    model = get_user_model()
    user = model.objects.create_user("search-bench", password=uuid.uuid4().hex)
    team = Team.objects.create(name="Search bench")
    teams.add_member(team, user, Membership.Role.MEMBER)
    return user, team


def _template(user, team) -> JobSet:
    price = Price.current("720p", 1)
    return JobSet(
        user=user,
        team=team,
        prompt="",
        width_and_height="1536x2048",
        quality="720p",
        batch_size=1,
        price=price,
        status=JobSet.Status.COMPLETED,
        charge=JobSet.Charge.CHARGED,
        send_attempts=1,
        polls=3,
    )


def _seed(user, team, first: int, count: int, total: int, rng: random.Random, results: dict) -> None:
    """Job sets number ``first`` .. ``first + count - 1`` of ``total`` (oldest first), one image each."""
    template = _template(user, team)
    fields = [f for f in JobSet._meta.local_concrete_fields if not f.primary_key]
    columns = [connection.ops.quote_name(f.column) for f in fields]
    fixed = {f.attname: f.get_db_prep_save(getattr(template, f.attname), connection) for f in fields}
    now = timezone.now()
    varying = ("prompt", "created_at", "sent_at", "finished_at", "idempotency_key")
    by_name = {f.attname: f for f in fields}

    def rows():
        for n in range(first, first + count):
            created = now - SPACING * (total - n)
            values = {
                "prompt": prompt(rng),
                "created_at": created,
                "sent_at": created + timedelta(seconds=0.5),
                "finished_at": created + timedelta(seconds=6),
                "idempotency_key": uuid.UUID(int=rng.getrandbits(128), version=4),
            }
            prepared = {name: by_name[name].get_db_prep_save(values[name], connection) for name in varying}
            yield [prepared[f.attname] if f.attname in prepared else fixed[f.attname] for f in fields]

    table = JobSet._meta.db_table
    last_id = JobSet.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    if connection.vendor == "postgresql":
        started = time.monotonic()
        with connection.cursor() as cursor:
            cursor.execute(f"DROP INDEX IF EXISTS {prompt_search.PG_INDEX}")
            with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows():
                    copy.write_row(row)
            _seed_jobs(cursor, team, last_id)
            index_started = time.monotonic()
            cursor.execute(f"CREATE INDEX {prompt_search.PG_INDEX} {prompt_search.PG_INDEX_SQL}")
            cursor.execute(prompt_search.PG_STATISTICS_SQL)
            results.setdefault("index_seconds", {})[str(first + count)] = round(
                time.monotonic() - index_started, 1
            )
            # As autovacuum would soon after a bulk load on a real server (soulbench.measure does the same).
            cursor.execute("VACUUM ANALYZE generations_jobset")
            cursor.execute("VACUUM ANALYZE generations_job")
            # And write out what the load left in memory now, as a server would long before anyone
            # searched, rather than while the first term is timed.
            cursor.execute("CHECKPOINT")
        results.setdefault("copy_seconds", {})[str(first + count)] = round(index_started - started, 1)
    else:
        placeholders = ", ".join(["%s"] * len(columns))
        with transaction.atomic(), connection.cursor() as cursor:
            insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"  # noqa: S608 - names only
            cursor.executemany(insert, rows())
            _seed_jobs(cursor, team, last_id)


def _seed_jobs(cursor, team, after_id: int) -> None:
    """One stored image for each job set just seeded, in one INSERT ... SELECT."""
    template = Job(index=0, status=Job.COMPLETED, image="results/bench.png", preview="results/bench.png")
    fields = [f for f in Job._meta.local_concrete_fields if not f.primary_key]
    expressions, params = [], []
    for field in fields:
        if field.attname == "job_set_id":
            expressions.append("id")
        elif field.attname == "upstream_id":
            expressions.append("'bench-' || id")
        elif field.attname in ("finished_at", "downloaded_at"):
            expressions.append("finished_at")
        else:
            expressions.append("%s")
            params.append(field.get_db_prep_save(getattr(template, field.attname), connection))
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    selected = ", ".join(expressions)
    source = f"FROM {JobSet._meta.db_table} WHERE team_id = %s AND id > %s"
    insert = f"INSERT INTO {Job._meta.db_table} ({columns}) SELECT {selected} {source}"  # noqa: S608 - names only
    cursor.execute(insert, [*params, team.pk, after_id])


def _remove(user, team) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        job_sets = f"SELECT id FROM {JobSet._meta.db_table} WHERE team_id = %s"  # noqa: S608 - names only
        cursor.execute(f"DELETE FROM {Job._meta.db_table} WHERE job_set_id IN ({job_sets})", [team.pk])  # noqa: S608
        cursor.execute(f"DELETE FROM {JobSet._meta.db_table} WHERE team_id = %s", [team.pk])  # noqa: S608
    Membership.objects.filter(team=team).delete()
    team.delete()
    user.delete()


def rows(sizes=SIZES) -> list[Row]:
    """Report rows (soulbench.Row) reading ``results["search"]``, what ``measure`` returned."""
    found = []
    for size in sizes:
        for kind, term in {**BASELINE, **TERMS, **SHORT_TERMS}.items():
            target = TARGET_MS if kind in TERMS else None
            shown = f" ({term!r})" if term else ""
            name = f"Search {kind.replace('_', ' ')}{shown}, {size:,} job sets (p50 / p95)"
            found.append(
                Row(name, f"p95 < {target} ms" if target else "", _page_value(f"{kind}_{size}", target))
            )
        for kind, term in {**BASELINE, **TERMS}.items():
            shown = f" ({term!r})" if term else ""
            name = f"Whole page, {kind.replace('_', ' ')}{shown}, {size:,} job sets"
            found.append(Row(name, "", _page_value(f"{kind}_{size}_page", None)))
    found.insert(0, Row("Search seeding", "", _seeding))
    return found


def _page_value(key: str, target_ms: float | None):
    def value(results: dict) -> tuple[str, bool | None]:
        run = results.get("search") or {}
        page = run.get("pages", {}).get(key)
        if page is None:
            return NOT_RUN, None
        matches = run.get("matches", {}).get(key.removesuffix("_page"))
        text = f"{page['p50_ms']:.1f} / {page['p95_ms']:.1f} ms ({page['sql_ms']:.1f} ms SQL)"
        text += f", {page['queries']} queries"
        if matches is not None and not key.startswith("no_term"):
            text += f", {matches:,} matching"
        if page["status"] != 200:
            text += f" (HTTP {page['status']})"
        met = None if target_ms is None else (page["p95_ms"] < target_ms and page["status"] == 200)
        return text, met

    return value


def _seeding(results: dict) -> tuple[str, bool | None]:
    run = results.get("search")
    if not run or not run.get("seed_seconds"):
        return NOT_RUN, None
    parts = [f"{int(size):,} in {seconds:.0f} s" for size, seconds in run["seed_seconds"].items()]
    index = run.get("index_seconds")
    if index:
        parts.append("trigram index built in " + ", ".join(f"{s:.0f} s" for s in index.values()))
    return "; ".join(parts), None


METHOD = (
    "- **Search**: a person and team of its own get 100,000, then 1,000,000 job sets (one image "
    "each), seeded by `executemany` in one transaction on SQLite (the FTS5 index filled by its "
    "triggers) and by `COPY` on PostgreSQL (the trigram index dropped first and built again "
    "after, then `VACUUM ANALYZE` and a `CHECKPOINT`). Prompts are a subject and a place, one to three style "
    "phrases, a year in three of ten and a rare word in one of 20,000. Each term is asked for "
    "in-process as that person the way the gallery's search box asks as one types: `/?q=<term>` "
    "from htmx, which gets the gallery section alone (the cards, filters and bulk bar; the "
    "generate form beside it stays as it is), "
    f"{REPETITIONS} timed requests per term ({SHORT_REPETITIONS} for the short ones) after 3 warm-up "
    "ones; then the whole page at that address (opened from a link or reloaded) with half as "
    "many, shown without a target: it adds the generate form and the page around it, which cost "
    "the same with a term or without. The terms: a common word "
    f"({TERMS['common']!r}, about one prompt in seven), a rare one ({TERMS['rare']!r}, one in "
    f"20,000), an absent one ({TERMS['absent']!r}) and a number ({TERMS['number']!r}, a year, "
    "about one in 420), plus one letter and two absent letters, which no trigram index can "
    "answer (shown without a target), and the page with no term, what rendering costs beside "
    "them. *SQL* is the median time the counted requests spent in the database. Its job sets "
    "are removed afterwards."
)
