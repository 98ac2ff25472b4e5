"""Prompt search finds exactly what ``prompt__icontains`` finds, through an index kept in step."""

from __future__ import annotations

import pytest
from django.db import connection
from django.utils import timezone

from generations.models import JobSet
from generations.queries import gallery, search

pytestmark = pytest.mark.django_db

PROMPTS = (
    "a red fox in fresh snow",
    "A RED FOX AT DUSK",
    "Éclair on a plate, école française",
    "éclair at the café",
    "straße in the rain",
    "50% off: a sale sign",
    "snake_case written on a wall",
    "a back\\slash in chalk",
    'a "quoted" poster',
    "portrait, 35mm, Kodak Portra 400, 1987",
    "portrait at 19:87",
    "x",
    "zq",
    "ab",
    "tab stop",
    "日本の庭園、雨の日",
    "emoji 🦊 fox",
)
TERMS = (
    # short: no trigram index can answer them
    "a",
    "A",
    "x",
    "zq",
    "Zq",
    "ab",
    "é",
    "É",
    "%",
    "_",
    "\\",
    "日本",
    "🦊",
    # trigrams and longer
    "fox",
    "FoX",
    "red fox",
    "éclair",
    "Éclair",
    "ÉCLAIR",
    "école",
    "café",
    "CAFÉ",
    "straße",
    "STRASSE",
    "50%",
    "0% o",
    "e_c",
    "a_s",
    "snake_case",
    "k\\s",
    "back\\slash",
    '"quoted"',
    'a "q',
    "1987",
    "987",
    "19:8",
    "35mm, kodak",
    "庭園、",
    "🦊 fox",
    "absent-word",
    "nul\x00byte",
    "fox in fresh snow but longer than any prompt holds",
)


@pytest.fixture
def prompts(alice, team_a):
    return stored(alice, team_a, PROMPTS)


def stored(user, team, prompts, statuses=None) -> list[JobSet]:
    """One finished job set per prompt, oldest first, written in one go (``statuses``: one each)."""
    now = timezone.now()
    statuses = statuses or [JobSet.Status.COMPLETED] * len(prompts)
    rows = [
        JobSet(
            user=user,
            team=team,
            prompt=prompt,
            width_and_height="1536x2048",
            quality="720p",
            batch_size=1,
            price="0.15",
            status=status,
            charge=JobSet.Charge.CHARGED,
            created_at=now,
        )
        for prompt, status in zip(prompts, statuses, strict=True)
    ]
    return JobSet.objects.bulk_create(rows)


def found(term: str) -> set[str]:
    return set(search.narrow(JobSet.objects.all(), term).values_list("prompt", flat=True))


def icontains(term: str) -> set[str]:
    return set(JobSet.objects.filter(prompt__icontains=term).values_list("prompt", flat=True))


@pytest.mark.parametrize("cap", [search.CAP, 0], ids=["through-the-index", "common-term-scan"])
def test_search_finds_exactly_what_icontains_finds_for_every_kind_of_term(prompts, monkeypatch, cap):
    # 0: every term counts as common and is scanned for; the defaults look these up.
    monkeypatch.setattr(search, "CAP", cap)
    monkeypatch.setattr(search, "PG_COMMON", cap)
    monkeypatch.setattr(search, "PG_COUNT_BELOW", cap)  # 0: the estimate alone, never counted
    for term in TERMS:
        if "\x00" in term and connection.vendor == "postgresql":
            assert found(term) == set()  # PostgreSQL text holds no NUL (icontains raises an error)
            continue
        assert found(term) == icontains(term), term
    assert found("fox") == {"a red fox in fresh snow", "A RED FOX AT DUSK", "emoji 🦊 fox"}
    assert found("50%") == {"50% off: a sale sign"}  # % is a character, not a wildcard
    assert found("a_s") == set() and found("a s")  # and _ too
    assert found("absent-word") == set()


def test_the_gallery_search_is_scoped_to_the_team_and_pages_newest_first(client, alice, bob, prompts):
    from tests.factories import make_job_set

    theirs = make_job_set(bob, prompt="a red fox of team Bravo")
    filters = gallery.Filters(team=prompts[0].team, q="red fox")
    shown = [job_set.prompt for job_set in gallery.page(alice, filters)]
    assert shown == ["A RED FOX AT DUSK", "a red fox in fresh snow"]
    assert theirs.prompt not in shown
    assert gallery.page(alice, filters, before=prompts[1].pk) == [prompts[0]]
    client.force_login(alice)
    page = client.get("/?q=red+fox")
    assert page.status_code == 200
    assert "A RED FOX AT DUSK" in page.content.decode()


def test_a_job_set_is_found_once_created_and_not_after_its_prompt_changes_or_it_is_deleted(alice):
    from tests.factories import make_job_set

    assert found("axolotl") == set()
    job_set = make_job_set(alice, prompt="an axolotl in a tank")
    assert found("axolotl") == {"an axolotl in a tank"}
    JobSet.objects.filter(pk=job_set.pk).update(prompt="a newt in a pond")
    assert found("axolotl") == set()
    assert found("newt") == {"a newt in a pond"}
    job_set.refresh_from_db()
    job_set.prompt = "an AXOLOTL again"
    job_set.save()
    assert found("axolotl") == {"an AXOLOTL again"}
    assert found("newt") == set()
    job_set.delete()
    assert found("axolotl") == set()


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the FTS5 index and its triggers are SQLite's")
def test_rows_from_before_the_index_or_from_while_its_triggers_were_lost_are_found(alice):
    from tests.factories import make_job_set

    make_job_set(alice, prompt="an axolotl from before")
    with connection.cursor() as cursor:  # as before migration 0015 (rolled back with the test)
        for name in search.TRIGGERS:
            cursor.execute(f"DROP TRIGGER {name}")
        cursor.execute("DROP TABLE generations_jobset_search")
    make_job_set(alice, prompt="an axolotl while nothing kept the index")
    search.after_migrate(sender=None, using=connection.alias)  # what every migrate ends with
    assert found("axolotl") == {"an axolotl from before", "an axolotl while nothing kept the index"}
    with connection.cursor() as cursor:  # a rebuilt job set table loses only its triggers
        cursor.execute("DROP TRIGGER generations_jobset_search_insert")
    make_job_set(alice, prompt="an axolotl after a table rebuild")
    assert search.install_sqlite_index(connection) is True
    assert search.install_sqlite_index(connection) is False  # nothing missing: nothing done
    assert len(found("axolotl")) == 3


def test_the_index_exists_after_every_migration(db):
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'generations_jobset'"
            )
            triggers = {name for (name,) in cursor.fetchall()}
            # A later migration that rebuilds the job set table drops them: it must make them again.
            assert {
                f"generations_jobset_search_{action}" for action in ("insert", "delete", "update")
            } <= triggers
        elif connection.vendor == "postgresql":
            cursor.execute(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'generations_jobset_prompt_trgm'"
            )
            (definition,) = cursor.fetchone()
            assert "gin_trgm_ops" in definition and "upper(prompt)" in definition
            index = "'generations_jobset_prompt_trgm'::regclass"
            cursor.execute(f"SELECT attstattarget FROM pg_attribute WHERE attrelid = {index}")
            assert cursor.fetchone() == (1000,)  # the planner's guesses need the finer statistics
        else:
            pytest.skip(f"no search index on {connection.vendor}")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigram index is PostgreSQL's")
def test_postgresql_can_answer_the_gallery_search_from_the_trigram_index(alice, prompts):
    # With few rows the planner would rather read the table or another index; forbidding those
    # shows whether the trigram index matches the expression the search compares.
    query = search.narrow(JobSet.objects.all(), "kodak portra")
    sql, params = query.values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row for (row,) in cursor.fetchall())
    assert "generations_jobset_prompt_trgm" in plan


def test_the_fts_query_quotes_every_trigram_and_keeps_long_terms_short():
    assert search.fts_query("fox") == '"fox"'
    assert search.fts_query('a"b') == '"a""b"'
    assert search.fts_query("abab") == '"aba" AND "bab"'
    long = search.fts_query("x" * 10 + "".join(chr(0x4E00 + n) for n in range(100)))
    assert long.count(" AND ") == search.MAX_TRIGRAMS - 1


def test_paging_newest_first_through_windows_of_ids_misses_and_repeats_nothing(alice, team_a, monkeypatch):
    # On PostgreSQL a term between rare and common is read a window of ids at a time; here every
    # term counts as such, with windows of 10 and 80 ids, and a status filter leaves some windows
    # short of a page. Every page must still be exactly the next ones in the plain order.
    monkeypatch.setattr(search, "PG_COMMON", -1)
    monkeypatch.setattr(search, "PG_WINDOWED_SHARE", 1)
    monkeypatch.setattr(search, "WINDOW_PAGES", 0.5)
    monkeypatch.setattr(search, "_pg_estimate", lambda using, term: 80)  # the true count
    monkeypatch.setattr(search, "_id_ranges", {})  # kept from another test's rows otherwise
    prompts = [f"needle {n}" if n % 3 == 0 else f"hay {n}" for n in range(240)]
    statuses = [JobSet.Status.FAILED if n % 5 == 0 else JobSet.Status.COMPLETED for n in range(240)]
    stored(alice, team_a, prompts, statuses)
    for status in ("", "failed"):
        filters = gallery.Filters(team=team_a, q="needle", status=status)
        plain = JobSet.objects.filter(prompt__icontains="needle").order_by("-pk")
        if status:
            plain = plain.filter(status=JobSet.Status.FAILED)
        expected = list(plain.values_list("pk", flat=True))
        assert len(expected) == (16 if status else 80)
        seen, before = [], None
        while True:
            shown = [job_set.pk for job_set in gallery.page(alice, filters, before=before, size=7)]
            seen += shown
            if len(shown) < 7:
                break
            before = shown[-1]
        assert seen == expected, status
    parts = search.newest_first(gallery.job_sets(alice, filters), "needle", None, 7)
    assert len(list(parts)) == (3 if connection.vendor == "postgresql" else 1)


def test_a_window_that_finds_few_sends_the_read_to_every_older_match_at_once(alice, team_a, monkeypatch):
    # The planner's estimate comes from a sample and can overstate a rare word many times over.
    # When the newest window finds so few that all older matches are few, the wider window is
    # skipped: two parts, not three. The pages stay exactly the plain order either way.
    monkeypatch.setattr(search, "PG_COMMON", 5)
    monkeypatch.setattr(search, "PG_WINDOWED_SHARE", 1)
    monkeypatch.setattr(search, "WINDOW_PAGES", 0.5)
    monkeypatch.setattr(search, "_pg_estimate", lambda using, term: 80)  # the truth: 4
    monkeypatch.setattr(search, "_id_ranges", {})
    stored(alice, team_a, [f"rare {n}" if n in (3, 50, 51, 120) else f"hay {n}" for n in range(240)])
    rare = JobSet.objects.filter(prompt__icontains="rare").order_by("-pk")
    expected = list(rare.values_list("pk", flat=True))
    filters = gallery.Filters(team=team_a, q="rare")
    assert [shown.pk for shown in gallery.page(alice, filters, size=7)] == expected
    assert [shown.pk for shown in gallery.page(alice, filters, before=expected[1], size=7)] == expected[2:]

    newest = gallery.job_sets(alice, filters).order_by("-id")
    read = list(search.newest_first(newest, "rare", None, 7))
    windows = search.newest_first(newest, "rare", None, 7)
    sent = [next(windows)]  # then, as the gallery reads them, each part's count sent back
    try:
        while True:
            sent.append(windows.send(sent[-1].count()))
    except StopIteration:
        pass
    postgresql = connection.vendor == "postgresql"
    assert len(read) == (3 if postgresql else 1)  # told nothing, it reads both windows
    assert len(sent) == (2 if postgresql else 1)
    assert [pk for part in sent for pk in part.values_list("pk", flat=True)] == expected
