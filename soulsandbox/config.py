"""The sandbox's settings: timing, the key, faults and webhook delivery, each one validated.

The same checks guard the start-up flags (:mod:`soulsandbox.cli`), the constructor used by
tests, and ``POST /_sandbox/faults`` at run time, so a bad value fails at once, changing
nothing, rather than on the first submit.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from soulwire import params

# The settings GET/POST /_sandbox/faults shows and changes at run time.
FAULT_FIELDS = (
    "error_rate",
    "rate_limit_rate",
    "retry_after",
    "unavailable_rate",
    "max_in_flight",
    "slow_rate",
    "slow_seconds",
    "drop_rate",
    "never_finish_rate",
    "poll_not_found_first",
    "fault_seed",
)
WEBHOOK_FIELDS = ("webhook_duplicates", "webhook_reorder", "webhook_delay", "webhook_target")
TIMING_FIELDS = ("queue_seconds", "complete_seconds")
RUNTIME_FIELDS = FAULT_FIELDS + WEBHOOK_FIELDS + TIMING_FIELDS


def parse_seconds_range(value: str | float) -> tuple[float, float]:
    """``3`` or ``"3"`` -> (3.0, 3.0); ``"2-10"`` -> (2.0, 10.0). Raises ValueError otherwise."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        low = high = float(value)
    elif isinstance(value, str) and value.count("-") <= 1:
        bounds = [float(part) for part in value.split("-")]
        low, high = bounds[0], bounds[-1]
    else:
        raise ValueError(f"not a duration in seconds: {value!r}")
    if not 0 <= low <= high or high == float("inf"):
        raise ValueError(f"need 0 <= low <= high seconds, got {value!r}")
    return low, high


# Validators for the configuration: each returns the value normalised or raises ValueError.


def _number(name: str, value: object) -> float:
    # JSON booleans decode to bool, which Python counts as int: refuse them.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(value)


def _rate(name: str, value: object) -> float:
    number = _number(name, value)
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"{name} must be a fraction from 0 to 1, got {value!r}")
    return number


def _seconds(name: str, value: object) -> float:
    number = _number(name, value)
    if number < 0:
        raise ValueError(f"{name} must not be negative, got {value!r}")
    return number


def _count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value!r}")
    return value


def _optional_count(name: str, value: object) -> int | None:
    return None if value is None else _count(name, value)


def _seed(name: str, value: object) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError(f"{name} must be a whole number or null, got {value!r}")
    return value


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return value


def _target(name: str, value: object) -> str | None:
    if value is None or value == "":
        return None
    if not params.is_uri(value):
        raise ValueError(f"{name} must be an http(s) URL, got {value!r}")
    return value


def _duration(name: str, value: object) -> str | float:
    parse_seconds_range(value)  # type: ignore[arg-type]
    return value  # type: ignore[return-value]


_CHECKS: dict[str, Callable[[str, object], object]] = {
    "queue_seconds": _seconds,
    "complete_seconds": _duration,
    "error_rate": _rate,
    "rate_limit_rate": _rate,
    "retry_after": _seconds,
    "unavailable_rate": _rate,
    "max_in_flight": _optional_count,
    "slow_rate": _rate,
    "slow_seconds": _seconds,
    "drop_rate": _rate,
    "never_finish_rate": _rate,
    "poll_not_found_first": _count,
    "fault_seed": _seed,
    "webhook_duplicates": _count,
    "webhook_reorder": _flag,
    "webhook_delay": _seconds,
    "webhook_target": _target,
}


@dataclass
class SandboxConfig:
    # None: any non-empty key is accepted. Kept out of repr so it never reaches a log line.
    api_key: str | None = field(default=None, repr=False)
    queue_seconds: float = 1.0
    complete_seconds: str | float = 3.0  # seconds after submit, or "low-high" for a random duration
    public_url: str | None = None  # base of result and preview URLs; default: the request's Host
    quiet: bool = True

    # Faults on submit and poll requests (rates are fractions from 0 to 1). The three
    # answered-without-processing rates share one draw, in this order: 500, 429, 503.
    error_rate: float = 0.0  # 500, nothing processed
    rate_limit_rate: float = 0.0  # 429 with Retry-After, nothing processed
    retry_after: float = 1.0  # seconds, the 429's Retry-After header
    unavailable_rate: float = 0.0  # 503, nothing processed
    max_in_flight: int | None = None  # submits beyond this many unfinished job sets: 400 (Higgsfield's)
    # Processed normally, then the answer is late (slow) or never comes (drop); one draw, drop first.
    slow_rate: float = 0.0
    slow_seconds: float = 5.0
    drop_rate: float = 0.0
    never_finish_rate: float = 0.0  # job sets that stay in_progress for ever (also: the word "forever")
    poll_not_found_first: int = 0  # the first N polls of each job set answer 404
    fault_seed: int | None = None  # seeds the fault draws, for a reproducible soak

    # Webhook delivery (a submit with webhook_url and webhook_secret).
    webhook_duplicates: int = 0  # send each message this many extra times
    webhook_reorder: bool = False  # after the final message, also send a stale in_progress one
    webhook_delay: float = 0.0  # seconds after the terminal instant
    webhook_target: str | None = None  # deliver here instead of the submitted webhook_url

    def __post_init__(self) -> None:
        # Fail at start-up (or on a bad POST /_sandbox/faults) rather than on the first submit.
        for name, check in _CHECKS.items():
            setattr(self, name, check(name, getattr(self, name)))

    @property
    def complete_range(self) -> tuple[float, float]:
        return parse_seconds_range(self.complete_seconds)

    def settings(self) -> dict:
        """The settings that ``/_sandbox/faults`` shows and changes."""
        return {name: getattr(self, name) for name in RUNTIME_FIELDS}

    def changed_settings(self) -> dict:
        """The fault and webhook settings that differ from their defaults (for a start-up line)."""
        defaults = {item.name: item.default for item in dataclasses.fields(self)}
        return {
            name: getattr(self, name)
            for name in FAULT_FIELDS + WEBHOOK_FIELDS
            if getattr(self, name) != defaults[name]
        }
