"""make bench's page timing: it counts a page's queries and times them finely enough to read."""

from __future__ import annotations

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
