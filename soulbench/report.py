"""The benchmark table: rows of measurements, one column per database, and whether each target is met."""

from __future__ import annotations

from soulbench import browser, search, tracking
from soulbench.rows import NOT_RUN, Row
from soulbench.rows import get as _get


def page_row(name: str, key: str, target_ms: float | None, constant_with: str | None = None) -> Row:
    def value(results: dict) -> tuple[str, bool | None]:
        page = _get(results, "web", key)
        if page is None:
            return NOT_RUN, None
        if page.get("missing"):
            return page["missing"], False if target_ms else None
        text = f"{page['p50_ms']:.1f} / {page['p95_ms']:.1f} ms, {page['queries']} queries"
        if page["status"] != 200:
            text += f" (HTTP {page['status']})"
        met = None
        if target_ms is not None:
            met = page["p95_ms"] < target_ms and page["status"] == 200
        if constant_with:
            other = _get(results, "web", constant_with)
            if other and not other.get("missing"):
                same = other["queries"] == page["queries"] and page["queries_min"] == page["queries"]
                text += "" if same else f" (vs {other['queries']})"
                met = same if met is None else (met and same)
        return text, met

    target = f"p95 < {target_ms:g} ms" if target_ms else ""
    if constant_with:
        target += (", " if target else "") + "queries constant"
    return Row(name, target, value)


def rows(sizes: list[int]) -> list[Row]:
    small, large = (f"{size:,}" for size in sizes)

    def seeding(results):
        seeded = _get(results, "seed")
        if not seeded:
            return NOT_RUN, None
        text = f"{seeded['job_sets']:,} job sets + {seeded['jobs']:,} jobs in {seeded['seconds']:.0f} s"
        if "this_month" in seeded:
            text += f" ({seeded['this_month']:,} this month)"
        return text, None

    def lag(key: str, target: float):
        def value(results):
            run = _get(results, "upstream", key)
            if run is None:
                return NOT_RUN, None
            if not run["finished"]:
                return f"did not finish ({run['completed']}/{run['job_sets']})", False
            text = f"{run['lag_p50_s']:.2f} / {run['lag_p95_s']:.2f} s ({run['images']} images)"
            return text, run["lag_p95_s"] < target

        return value

    def per_job_set(results):
        parts, met = [], None
        for key, label in (("lag_polling", "polling"), ("lag_webhooks", "webhooks"), ("drain", "drain")):
            run = _get(results, "upstream", key)
            if run is None:
                continue
            parts.append(f"{run['requests_per_job_set']:.1f} {label}")
            met = (met is not False) and run["requests_per_job_set"] <= 3
        return (", ".join(parts) or NOT_RUN), met

    def idle(results):
        count = _get(results, "upstream", "idle_requests")
        seconds = _get(results, "upstream", "idle_seconds")
        if count is None:
            return NOT_RUN, None
        return f"{count} in {seconds:g} s", count == 0

    def drain_time(results):
        run = _get(results, "upstream", "drain")
        if run is None:
            return NOT_RUN, None
        if not run["finished"]:
            return (
                f"{run['drained']:,} of {run['job_sets']:,} in {run['drain_s']:.0f} s "
                f"({run['throughput_per_s']:.2f}/s): all ≈ {run['projected_s']:.0f} s projected"
            ), None
        return f"{run['job_sets']:,} in {run['drain_s']:.0f} s ({run['throughput_per_s']:.2f}/s)", None

    def cap_use(results):
        run = _get(results, "upstream", "drain")
        if run is None:
            return NOT_RUN, None
        text = f"{run['cap_full_share']:.1%} here, {run['upstream_full_share']:.1%} upstream"
        if run["concurrency_refusals"]:
            text += f", {run['concurrency_refusals']} refused"
        return text, run["cap_full_share"] > 0.95

    def web_memory(results):
        worker = _get(results, "memory", "web_worker_rss_mb")
        if worker is None:
            return NOT_RUN, None
        return f"{worker:.0f} MB", worker < 150

    def cluster_memory(results):
        memory = _get(results, "memory")
        if not memory or "cluster_rss_mb" not in memory:
            return NOT_RUN, None
        text = (
            f"{memory['cluster_pss_mb']:.0f} MB PSS ({memory['cluster_processes']} processes; "
            f"RSS summed: {memory['cluster_rss_mb']:.0f} MB)"
        )
        # PSS: each shared page counted once in all, as the machine (and systemd's MemoryCurrent
        # for the cluster's unit) counts it; summed RSS counts Django's shared pages per process.
        return text, memory["cluster_pss_mb"] < 250

    def pick_next(size: str, flat_with: str | None = None):
        def value(results):
            run = _get(results, "pick_next", size)
            if run is None:
                return NOT_RUN, None
            text = f"{run['p50_ms']:.1f} / {run['p95_ms']:.1f} ms, {run['queries']} queries"
            if flat_with is None:
                return text, None
            other = _get(results, "pick_next", flat_with)
            # Flat: the larger line costs no more queries, and at most twice the time (and 10 ms).
            met = other is not None and run["queries"] <= other["queries"]
            met = met and run["p50_ms"] <= max(2 * other["p50_ms"], other["p50_ms"] + 10)
            return text, met

        return value

    return [
        Row("Seeding", "", seeding),
        Row("Pick-next, 10 waiting from 50 people (p50 / p95)", "", pick_next("10")),
        Row("Pick-next, 1,000 waiting from 50 people", "", pick_next("1000")),
        Row("Pick-next, 10,000 waiting from 50 people", "flat", pick_next("10000", flat_with="10")),
        page_row(f"Gallery first page, {small} job sets (p50 / p95)", "gallery_small", 30),
        page_row(f"Gallery first page, {large} job sets", "gallery_large", 30, constant_with="gallery_small"),
        page_row(f"Older cards (htmx), {small} job sets", "older_small", None),
        page_row(f"Older cards (htmx), {large} job sets", "older_large", None, constant_with="older_small"),
        page_row(f"Spend chip, {large} job sets", "chip_large", 10),
        page_row(f"Spend page, {large} job sets", "spend_large", 100),
        Row("Tracking lag, polling only (p50 / p95)", "p95 < 2 s", lag("lag_polling", 2.0)),
        Row("Tracking lag, with webhooks (p50 / p95)", "p95 < 0.5 s", lag("lag_webhooks", 0.5)),
        Row("Upstream requests per finished job set", "≤ 3 on average", per_job_set),
        Row("Upstream requests while idle", "0", idle),
        Row("Drain a backlog at cap 4 (gateway 0.5-1 s)", "", drain_time),
        Row("Cap fully used while a backlog waits", "> 95%", cap_use),
        Row("Web worker memory (gunicorn worker RSS)", "< 150 MB", web_memory),
        Row("Cluster memory (all its processes)", "< 250 MB", cluster_memory),
        *tracking.rows(),
        *browser.rows(),
        *search.rows(),
    ]


def mark(met: bool | None) -> str:
    return {True: " ✓", False: " ✗", None: ""}[met]


def table(targets: list[tuple[str, dict]], sizes: list[int]) -> tuple[list[str], list[list[str]]]:
    """Header and cells: measurement, target, then one column per database."""
    header = ["Measurement", "Target"] + [label for label, _ in targets]
    cells = []
    for row in rows(sizes):
        line = [row.name, row.target]
        for _, results in targets:
            if results.get("skipped"):
                line.append(f"skipped: {results['skipped']}")
                continue
            text, met = row.value(results)
            line.append(text + mark(met))
        cells.append(line)
    return header, cells


def plain(header: list[str], cells: list[list[str]]) -> str:
    widths = [max(len(str(line[i])) for line in [header, *cells]) for i in range(len(header))]
    out = [" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    out.append("-+-".join("-" * w for w in widths))
    for line in cells:
        out.append(" | ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)))
    return "\n".join(out)


def markdown(header: list[str], cells: list[list[str]]) -> str:
    def escape(text: str) -> str:
        return str(text).replace("|", "\\|")

    out = ["| " + " | ".join(escape(h) for h in header) + " |", "|" + "---|" * len(header)]
    for line in cells:
        out.append("| " + " | ".join(escape(c) for c in line) + " |")
    return "\n".join(out)


def missed(targets: list[tuple[str, dict]], sizes: list[int]) -> list[str]:
    """'<measurement> on <database>: <value>' for every target not met."""
    found = []
    for row in rows(sizes):
        for label, results in targets:
            if results.get("skipped"):
                continue
            text, met = row.value(results)
            if met is False:
                found.append(f"{row.name} on {label}: {text} (target {row.target})")
    return found
