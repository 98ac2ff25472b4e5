"""A row of the benchmark table, shared by the table (report.py) and the modules that add rows to it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

NOT_RUN = "not run"


@dataclass
class Row:
    name: str
    target: str
    # From one database's results: (text shown, met?) with met None when no target applies.
    value: Callable[[dict], tuple[str, bool | None]]


def get(results: dict, *path, default=None):
    """``results[path[0]][path[1]]...``, or ``default`` where a step is missing."""
    value = results
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return default
        value = value[key]
    return value
