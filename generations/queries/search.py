"""Prompt search: the job sets whose prompt contains a term, through an index where one helps.

The answer is always exactly Django's ``prompt__icontains`` on the database at hand (a
case-insensitive substring, whatever its length, ``%``, ``_`` and ``\\`` taken literally):
its SQL is always what decides a match. The index only decides how the rows are found.

- **SQLite**: an FTS5 table with the trigram tokenizer over the prompts
  (``generations_jobset_search``, external content kept in step by triggers; migration
  0015). It folds case more widely than ``LIKE`` (all of Unicode, ``LIKE`` only ASCII), so
  it finds a superset that ``LIKE`` then narrows. Counting a term's candidates there costs
  under a millisecond (it stops at ``CAP``): a term with few candidates is looked up by
  them; a common one is left to the newest-first scan, which fills a page within a few
  thousand rows. FTS cannot return rows newest first through the ORM's ``ORDER BY id``,
  so a common term through the index would list all its candidates (70-200 ms at
  1,000,000 job sets) for a page the scan fills in under 1 ms.
- **PostgreSQL**: a pg_trgm GIN index on ``UPPER(prompt)``, the very expression
  ``icontains`` compares. The planner's own choice between it and the newest-first scan
  proved fragile (a rare word it guessed at 465 rows sent it scanning half of 1,000,000 rows,
  800 ms), so the search asks for its row estimate (``EXPLAIN``, no execution, under 1 ms),
  counts the matches where that estimate is too small to be more than a sample's noise, and
  decides itself: up to ``PG_COMMON`` rows, the ids of every match are read
  through the index (``id = ANY(ARRAY(...))``, one bitmap scan, a few ms for a few hundred
  matches); above it, icontains' test itself (``Contains``), where the index's statistics
  tell the planner the term is common, so it reads the newest rows first and stops after a
  page (within a few thousand rows). The pattern is written into the SQL as a
  quoted literal rather than a parameter: with a parameter, PostgreSQL's plan cache settles
  on one generic plan for every term after a connection ran the query a few times (settings
  prepare it), and estimates the same number of rows for every term.
- **Fewer than three characters**: no trigram index can serve them. The newest-first scan
  stops after a page, so a common short term is quick; a rare one reads the team's rows
  (on PostgreSQL through an expression the trigram index cannot take, since that index
  would be read whole for such a pattern).

docs/DECISIONS.md has the measurements behind these choices.
"""

from __future__ import annotations

import json
import time
from collections.abc import Generator

from django.db import connections
from django.db.models import F, Lookup, QuerySet, TextField, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Concat

from generations.models import JobSet

# Parts of a read, in turn; the reader sends how many rows each gave (see ``newest_first``).
Parts = Generator[QuerySet[JobSet], int | None, None]

# The shortest term a trigram index can answer.
TRIGRAM = 3
# SQLite: a term with at most this many candidates is looked up by them; more, and the term is
# common enough that the newest-first scan fills a page within about 24 * rows / CAP rows
# (12,000 at 1,000,000 job sets, a few ms), while listing CAP candidates costs about as much.
CAP = 2000
# PostgreSQL: a term in at most this many job sets has all its matches read through the index
# (each a heap visit of 12-20 us: 45 matches cost well under 1 ms, 300 about 5 ms); more, and a
# page is read newest first, by windows of ids (``newest_first``) or by the scan.
PG_COMMON = 300
# PostgreSQL: the planner's estimate comes from a sample of the prompts (300,000 rows, 1,000
# values kept), so below a few sample hits it is noise: a word seen once in the sample is
# "931 rows" at 1,000,000 job sets whether 45 or 2,365 hold it (both seen). A term estimated at
# no more than this is counted instead, up to PG_COMMON + 1 matches, through the index (the
# plan the planner picks for such a term: 2 ms for 45 matches, 12 ms for a year's first 301).
PG_COUNT_BELOW = 5000
# PostgreSQL: a term in fewer than one row in this many is common enough to scan for but rare
# enough that the scan reads thousands of rows for a page (a year: about 7,000 at 1,000,000 job
# sets, 7 ms). Its newest matches are read through the index a window of ids at a time instead
# (``newest_first``); a more common term's page is within a few hundred rows of the newest.
PG_WINDOWED_SHARE = 100
# The first window is expected to hold this many pages of matches; each next one is WIDER times
# as wide, and the last part is every older match.
WINDOW_PAGES = 2
WIDER = 8
# How long an estimate stays good: a page and its "Show older" pages ask for the same term.
ESTIMATE_SECONDS = 60
# SQLite: the FTS5 query uses at most this many of a term's trigrams. Any subset finds a
# superset of the matches (LIKE narrows it), and a 2,000-character term stays a short query.
MAX_TRIGRAMS = 24
FTS_TABLE = "generations_jobset_search"
FTS_ROWIDS = "SELECT rowid FROM generations_jobset_search WHERE generations_jobset_search MATCH %s"
FTS_COUNT = (
    "SELECT count(*) FROM (SELECT 1 FROM generations_jobset_search"
    " WHERE generations_jobset_search MATCH %s LIMIT %s)"
)

# The SQLite index (migration 0015 makes it). detail=none: it keeps which rows hold a trigram,
# not where (the positions only serve phrase queries): the search asks for rows holding every
# trigram of the term and LIKE then checks the whole term. External content: the prompts are read from the job
# set table itself, kept in step by the triggers.
FTS_SQL = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS generations_jobset_search USING fts5("
    "prompt, content='generations_jobset', content_rowid='id', tokenize='trigram', detail='none')"
)
TRIGGERS = {
    "generations_jobset_search_insert": """CREATE TRIGGER IF NOT EXISTS generations_jobset_search_insert
    AFTER INSERT ON generations_jobset
    BEGIN
        INSERT INTO generations_jobset_search(rowid, prompt) VALUES (new.id, new.prompt);
    END""",
    "generations_jobset_search_delete": """CREATE TRIGGER IF NOT EXISTS generations_jobset_search_delete
    AFTER DELETE ON generations_jobset
    BEGIN
        INSERT INTO generations_jobset_search(generations_jobset_search, rowid, prompt)
        VALUES ('delete', old.id, old.prompt);
    END""",
    "generations_jobset_search_update": """CREATE TRIGGER IF NOT EXISTS generations_jobset_search_update
    AFTER UPDATE OF prompt ON generations_jobset
    BEGIN
        INSERT INTO generations_jobset_search(generations_jobset_search, rowid, prompt)
        VALUES ('delete', old.id, old.prompt);
        INSERT INTO generations_jobset_search(rowid, prompt) VALUES (new.id, new.prompt);
    END""",
}
# The PostgreSQL index (migration 0015 builds it CONCURRENTLY), on the very expression icontains
# compares. ANALYZE keeps 1,000 of its values rather than 100, for the estimate the search
# decides by: from 100 the planner guessed 100 rows for any term it did not see among them (a
# year in 2,365 of 1,000,000 prompts, a phrase in 4,412), so both would have been read through
# the index (65 ms for the year); from 1,000 it guesses 3,723 and 8,579, and they are scanned
# for (6 ms).
PG_INDEX = "generations_jobset_prompt_trgm"
PG_INDEX_SQL = "ON generations_jobset USING gin (UPPER(prompt) gin_trgm_ops)"
# The job sets whose prompt matches a pattern (what follows), as icontains tests it.
PG_MATCHES = "SELECT id FROM generations_jobset WHERE UPPER(prompt::text) LIKE"
PG_STATISTICS_SQL = f"ALTER INDEX {PG_INDEX} ALTER COLUMN 1 SET STATISTICS 1000"

# Reads every prompt in the job set table into the index afresh.
REBUILD_SQL = "INSERT INTO generations_jobset_search(generations_jobset_search) VALUES ('rebuild')"


def install_sqlite_index(connection) -> bool:
    """Make the SQLite index and its triggers where missing; refill it if any was. True if it did.

    Migration 0015 calls it first. Django rebuilds the job set table on SQLite for most column
    changes (a later migration's AddField of a NOT NULL column, say), and dropping the old table
    drops its triggers, after which the index would silently miss every new job set; so it runs
    again after every ``migrate`` (``after_migrate``) and puts them back.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger') AND name LIKE %s",
            [f"{FTS_TABLE}%"],
        )
        present = {name for (name,) in cursor.fetchall()}
        missing = ({FTS_TABLE} | set(TRIGGERS)) - present
        if not missing:
            return False
        cursor.execute(FTS_SQL)
        for sql in TRIGGERS.values():
            cursor.execute(sql)
        cursor.execute(REBUILD_SQL)  # whatever was written while a trigger was missing
        return True


def after_migrate(sender, using="default", **kwargs) -> None:
    """A ``post_migrate`` receiver: put the SQLite index's triggers back if a migration dropped them."""
    from django.db.migrations.recorder import MigrationRecorder

    connection = connections[using]
    if connection.vendor != "sqlite":
        return
    applied = MigrationRecorder(connection).applied_migrations()
    if ("generations", "0015_prompt_search") in applied:
        install_sqlite_index(connection)


def narrow(query: QuerySet[JobSet], term: str) -> QuerySet[JobSet]:
    """``query`` narrowed to job sets whose prompt contains ``term`` (as ``prompt__icontains``)."""
    if not term:
        return query
    vendor = connections[query.db].vendor
    if vendor == "postgresql":
        if "\x00" in term:
            return query.none()  # its text cannot hold one; icontains would fail with an error
        if len(term) < TRIGRAM:
            unindexed = Concat(F("prompt"), Value(""), output_field=TextField())
            return query.alias(prompt_scanned=unindexed).filter(prompt_scanned__icontains=term)
        if _pg_estimate(query.db, term) > PG_COMMON:
            return query.filter(Contains(F("prompt"), term))
        return query.filter(MatchingIds(F("pk"), term))
    query = query.filter(prompt__icontains=term)
    # FTS5 reads text only up to a NUL character (Django's forms refuse it in a prompt or a term).
    indexable = len(term) >= TRIGRAM and "\x00" not in term
    if vendor == "sqlite" and indexable and _fts_candidates(query.db, term) <= CAP:
        # A subquery of its own: it reads right wherever the ORM puts the job set table.
        candidates = RawSQL(FTS_ROWIDS, [fts_query(term)])  # noqa: S611 - constant SQL, the query bound
        return query.filter(pk__in=candidates)
    return query


def newest_first(query: QuerySet[JobSet], term: str, below: int | None, size: int) -> Parts:
    """``query`` (narrowed to ``term``, newest first, under the cursor ``below``) as parts to read
    in turn until a page of ``size`` is full: consecutive ranges of ids, newest first.

    One part, ``query`` itself, except on PostgreSQL for a term between rare and common (see
    ``PG_WINDOWED_SHARE``): there the first part is a window of the newest ids expected to hold
    ``WINDOW_PAGES`` pages of matches, whose matches the index lists (``MatchingIds`` within the
    window: 2 ms for a year at 1,000,000 job sets, against 7 ms scanning for it); the next is
    ``WIDER`` times as wide; the last is every older match. The view's other filters
    (a person, a status, dates) can leave a window short of a page; the next part goes on.

    A generator: the reader sends how many job sets each part gave (``parts.send(found)``).
    The planner's estimate comes from a sample, so a word that happens to be in it once counts
    as about a thousand rows at 1,000,000 (45 job sets hold "axolotl"); when a window finds so
    few that every older match is fewer than ``PG_COMMON``, the wider window is skipped and
    those are read at once (one query, where the wider window would have been a third).
    """
    connection = connections[query.db]
    if connection.vendor != "postgresql" or len(term) < TRIGRAM or "\x00" in term:
        yield query
        return
    rows = _pg_estimate(query.db, term)
    if rows <= PG_COMMON:
        yield query  # narrow() already reads every match through the index
        return
    oldest, newest = _id_range(query.db)
    top = newest if below is None else below - 1
    if oldest is None or rows * PG_WINDOWED_SHARE > newest - oldest + 1:
        yield query  # common: the scan fills a page within a few hundred rows
        return
    ceiling, width = None, max(size, round(WINDOW_PAGES * size * (newest - oldest + 1) / rows))
    floor = top + 1
    for _ in range(2):  # two windows, then the rest
        if floor - width <= oldest:
            break  # the rest is no wider than this window would be
        floor -= width
        # The first window has no ceiling: ids newer than ``newest`` (just stored) belong in it.
        found = yield query.filter(MatchingIds(F("pk"), term, floor=floor, ceiling=ceiling))
        ceiling = floor
        if found is not None and found * (floor - oldest) / width <= PG_COMMON:
            break  # as dense as this window, the older ids hold few matches: read them all
        width *= WIDER
    if ceiling is None:
        yield query  # no window fits: the rest is the whole query
        return
    # The rest through the index too: at most every match once, where scanning for a term the
    # estimate overstated would read the whole team.
    yield query.filter(MatchingIds(F("pk"), term, ceiling=floor))


def fts_query(term: str) -> str:
    """An FTS5 query for rows holding every trigram of ``term`` (each a quoted string)."""
    trigrams = dict.fromkeys(term[i : i + TRIGRAM] for i in range(len(term) - TRIGRAM + 1))
    chosen = list(trigrams)
    if len(chosen) > MAX_TRIGRAMS:
        # Spread over the whole term, so its first and last characters both count.
        step = len(chosen) / MAX_TRIGRAMS
        chosen = [chosen[int(n * step)] for n in range(MAX_TRIGRAMS - 1)] + [chosen[-1]]
    return " AND ".join('"' + trigram.replace('"', '""') + '"' for trigram in chosen)


def _fts_candidates(using: str, term: str) -> int:
    """How many rows the FTS index offers for ``term``, counting no further than ``CAP + 1``."""
    with connections[using].cursor() as cursor:
        cursor.execute(FTS_COUNT, [fts_query(term), CAP + 1])
        return cursor.fetchone()[0]


def _pg_literal(connection, term: str) -> str:
    """``UPPER('%<term>%')`` as icontains builds it (Django's escaping of ``%``, ``_``, ``\\``),
    quoted by psycopg (``compose_sql``) into SQL text."""
    connection.ensure_connection()  # psycopg quotes for the connection's encoding
    pattern = f"%{connection.ops.prep_for_like_query(term)}%"
    return f"UPPER({connection.ops.compose_sql('%s', [pattern])})"


def _pg_estimate(using: str, term: str) -> float:
    """How many job sets hold ``term``, as far as choosing a path needs: counted up to
    ``PG_COMMON`` + 1 where the planner expects at most ``PG_COUNT_BELOW``, its estimate above.

    Kept for ``ESTIMATE_SECONDS`` (the narrowing and the page's windows ask in turn, and so do
    the "Show older" pages after it); it only chooses how rows are found, never which.
    """
    key, now = (using, term), time.monotonic()
    kept = _estimates.get(key)
    if kept and kept[0] > now:
        return kept[1]
    rows = _pg_planned_rows(using, term)
    if rows <= PG_COUNT_BELOW:
        counted = _pg_count(using, term, PG_COMMON + 1)
        rows = counted if counted <= PG_COMMON else max(rows, counted)
    if len(_estimates) >= 512:
        _estimates.clear()
    _estimates[key] = (now + ESTIMATE_SECONDS, rows)
    return rows


# (database alias, term) -> (until when, rows): one process's recent estimates.
_estimates: dict[tuple[str, str], tuple[float, float]] = {}


def _id_range(using: str) -> tuple[int | None, int | None]:
    """The oldest and newest job set ids, kept ``ESTIMATE_SECONDS`` like the estimates.

    They only size the windows: the first window has no ceiling, so job sets stored since are
    in it, and the last part takes everything below the windows whatever the oldest id is.
    """
    now = time.monotonic()
    kept = _id_ranges.get(using)
    if kept and kept[0] > now:
        return kept[1]
    with connections[using].cursor() as cursor:
        cursor.execute(f"SELECT min(id), max(id) FROM {JobSet._meta.db_table}")  # noqa: S608 - a name
        found = cursor.fetchone()
    _id_ranges[using] = (now + ESTIMATE_SECONDS, found)
    return found


# database alias -> (until when, (oldest id, newest id)).
_id_ranges: dict[str, tuple[float, tuple[int | None, int | None]]] = {}


def _pg_count(using: str, term: str, cap: int) -> int:
    """How many job sets hold ``term``, counting no further than ``cap``."""
    connection = connections[using]
    # Constant SQL around a literal quoted by psycopg; no parameters, so its % signs stay.
    sql = f"SELECT count(*) FROM ({PG_MATCHES} {_pg_literal(connection, term)} LIMIT {int(cap)}) AS found"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


def _pg_planned_rows(using: str, term: str) -> float:
    connection = connections[using]
    sql = f"EXPLAIN (FORMAT JSON) {PG_MATCHES} {_pg_literal(connection, term)}"
    with connection.cursor() as cursor:
        cursor.execute(sql)  # no parameters: the literal's % signs stay as they are
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return plan[0]["Plan"]["Plan Rows"]


class Contains(Lookup):
    """``UPPER(prompt::text) LIKE UPPER('%term%')``: icontains' own test, its pattern a literal.

    For a common term: the planner, which knows from the index's statistics that the term is
    common, reads the newest rows first and stops after a page. Given a parameter, or an
    expression the index's statistics do not cover, it guessed a few dozen matches for a long
    word (a fixed guess per character) and planned to read half the table, with parallel
    workers: their start alone cost 8 ms for a page found in 0.2 ms, and far more on a busy
    machine.
    """

    lookup_name = "contains_literal"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        literal = _pg_literal(connection, self.rhs).replace("%", "%%")
        return f"UPPER({lhs}::text) LIKE {literal}", params


class MatchingIds(Lookup):
    """``id = ANY(ARRAY(SELECT id ... WHERE UPPER(prompt::text) LIKE UPPER('%term%')))``.

    The subquery is icontains' own test (same SQL as Django's), read through the trigram
    index; the array makes the outer query fetch just those rows by primary key, whatever
    order or filters it adds. The pattern is a literal (see the module's docstring); ``%`` is
    doubled because the statement still carries the ORM's other parameters.
    """

    lookup_name = "matching_ids"
    prepare_rhs = False

    def __init__(self, lhs, rhs, floor: int | None = None, ceiling: int | None = None):
        super().__init__(lhs, rhs)
        self.floor, self.ceiling = floor, ceiling  # only ids in [floor, ceiling), where given

    @property
    def identity(self):
        return (*super().identity, self.floor, self.ceiling)

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        literal = _pg_literal(connection, self.rhs).replace("%", "%%")
        window = ""
        if self.floor is not None:
            window += f" AND id >= {int(self.floor)}"
        if self.ceiling is not None:
            window += f" AND id < {int(self.ceiling)}"
        return f"{lhs} = ANY(ARRAY({PG_MATCHES} {literal}{window}))", params
