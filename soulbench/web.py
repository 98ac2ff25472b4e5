"""Server time and query counts of pages, in-process with Django's test client.

The time is what Django spends from the request to the rendered response
(middleware, views, queries, templates), without a network or a web server in
front. Queries are counted and timed on separate requests, so that timing them
adds nothing to the timed runs.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass

from django.conf import settings
from django.db import connection
from django.test import Client


@dataclass
class PageTiming:
    p50_ms: float
    p95_ms: float
    queries: int  # the most any counted request made
    queries_min: int
    requests: int
    status: int
    sql_ms: float  # median time in the database of the counted requests
    slowest_ms: float  # the slowest single query seen, and its start
    slowest_sql: str

    def as_dict(self) -> dict:
        return asdict(self)


class QueryTimer:
    """Each query's time in ms and its SQL, by the microsecond (Django's own log rounds to 1 ms)."""

    def __init__(self) -> None:
        self.queries: list[tuple[float, str]] = []

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.queries.append(((time.perf_counter() - started) * 1000, sql))


def client_for(user) -> Client:
    if "testserver" not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    # A page that fails shows as its status in the table instead of stopping the benchmark.
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def percentile(values: list[float], share: float) -> float:
    """The ``share`` quantile (0..1) by linear interpolation; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[round(share * 100) - 1]


def measure(
    client: Client,
    paths: list[str],
    repetitions: int,
    htmx: bool = False,
    warmup: int = 5,
    headers: dict[str, str] | None = None,
) -> PageTiming:
    """GET ``paths`` in turn ``repetitions`` times in all; p50/p95 of the server time.

    ``htmx``: as htmx asks (``HX-Request``); ``headers``: these request headers besides.
    """
    headers = {**({"HTTP_HX_REQUEST": "true"} if htmx else {}), **(headers or {})}
    status = 0
    for n in range(warmup):
        status = client.get(paths[n % len(paths)], **headers).status_code
    timings = []
    for n in range(repetitions):
        path = paths[n % len(paths)]
        started = time.perf_counter()
        response = client.get(path, **headers)
        timings.append((time.perf_counter() - started) * 1000)
        status = response.status_code
    counts, sql_times, slowest = [], [], (0.0, "")
    for path in paths[: min(len(paths), 10)]:
        timer = QueryTimer()
        with connection.execute_wrapper(timer):
            client.get(path, **headers)
        counts.append(len(timer.queries))
        sql_times.append(sum(time_ms for time_ms, _ in timer.queries))
        slowest = max([slowest, *timer.queries], key=lambda item: item[0])
    return PageTiming(
        p50_ms=round(percentile(timings, 0.50), 2),
        p95_ms=round(percentile(timings, 0.95), 2),
        queries=max(counts),
        queries_min=min(counts),
        requests=repetitions,
        status=status,
        sql_ms=round(statistics.median(sql_times), 2),
        slowest_ms=round(slowest[0], 2),
        slowest_sql=" ".join(slowest[1].split())[:240],
    )


def older_paths(user, count: int) -> list[str]:
    """`/?before=<id>` at ``count`` depths spread through the person's job sets."""
    from generations.models import JobSet

    ids = list(JobSet.objects.filter(user=user).order_by("id").values_list("id", flat=True))
    step = max(1, len(ids) // (count + 1))
    return [f"/?before={ids[n]}" for n in range(step, len(ids), step)][:count]
