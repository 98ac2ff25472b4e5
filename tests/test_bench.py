"""make bench: a page's queries counted and timed finely enough to read; the code it measured named."""

from __future__ import annotations

import subprocess

import pytest

from soulbench import web
from tests.factories import make_finished

pytestmark = pytest.mark.django_db


def test_a_pages_queries_are_counted_and_timed_below_a_millisecond(alice, media_root):
    make_finished(alice, batch_size=4)
    timing = web.measure(web.client_for(alice), ["/"], repetitions=3, warmup=1)
    assert timing.status == 200 and timing.requests == 3
    assert timing.queries == timing.queries_min > 0
    # Each query takes well under a millisecond here; Django's query log would round them all to 0.
    assert 0 < timing.sql_ms < timing.p95_ms
    assert 0 < timing.slowest_ms <= timing.sql_ms
    assert timing.slowest_sql.startswith("SELECT")


def test_the_page_names_the_commit_measured_and_says_when_files_differed_from_it(tmp_path):
    from soulbench import machine

    def git(*arguments):
        subprocess.run(["git", *arguments], cwd=tmp_path, check=True, capture_output=True)

    assert machine.code_line(tmp_path) == "- Code: not a git checkout (commit unknown)"
    git("init", "-q")
    (tmp_path / "a.txt").write_text("one")
    git("add", "a.txt")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "first")
    commit = subprocess.run(
        ["git", "rev-parse", "--short=10", "HEAD"], cwd=tmp_path, capture_output=True, text=True
    ).stdout.strip()
    assert machine.code_line(tmp_path) == f"- Code: commit {commit}"
    (tmp_path / "a.txt").write_text("two")
    assert machine.code_line(tmp_path) == f"- Code: commit {commit}, with uncommitted changes"
