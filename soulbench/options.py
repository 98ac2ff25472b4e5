"""The benchmark's command line: ``python -m soulbench [options]`` (`make bench BENCH_ARGS="..."`)."""

from __future__ import annotations

import argparse

from django.conf import settings

# The options the parent passes on to each measuring child, as they are.
PASSED_TO_CHILD = (
    "repetitions",
    "lag_job_sets",
    "lag_spread",
    "idle_seconds",
    "drain",
    "drain_budget",
    "only",
)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m soulbench",
        description="Seed throw-away databases, measure pages, tracking and memory; "
        "print a table, write BENCHMARKS.md.",
    )
    parser.add_argument("--databases", default="sqlite,postgres", help="Which of sqlite,postgres to run on.")
    parser.add_argument("--sizes", default="10000,100000", help="Job sets to seed: the smaller, the larger.")
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
        "--only",
        default="all",
        choices=["all", "pick-next", "search", "tracking", "browser"],
        help="Measure only this part ('pick-next': the time to choose the next job set to send; "
        "'search': prompt search at 100,000 and 1,000,000; 'tracking': the poll schedule; "
        "'browser': one tab in Chromium).",
    )
    parser.add_argument(
        "--keep-databases", action="store_true", help="Leave the throw-away databases, for a look."
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)  # internal: measure here, write JSON there
    return parser


def parse(argv: list[str] | None = None) -> dict:
    """The options as a dict (``sizes`` a sorted pair of numbers); exits with a message when wrong."""
    command_line = parser()
    options = vars(command_line.parse_args(argv))
    try:
        sizes = sorted(int(size) for size in options["sizes"].split(","))
    except ValueError:
        sizes = []
    if len(sizes) != 2:
        command_line.error("--sizes takes two numbers, e.g. 10000,100000")
    options["sizes"] = sizes
    return options


def child_arguments(options: dict, out: str) -> list[str]:
    """The command line of a measuring child: the parent's measuring options, and where to write."""
    arguments = ["--child", out]
    for name in PASSED_TO_CHILD:
        arguments += [f"--{name.replace('_', '-')}", str(options[name])]
    return arguments + ["--sizes", ",".join(str(size) for size in options["sizes"])]
