"""How long to wait before trying again."""

from __future__ import annotations

import random


def delay(attempt: int, *, base: float = 2.0, cap: float = 300.0, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter; an upstream ``Retry-After`` wins when given.

    ``attempt`` counts from 1. The jitter (between half and all of the step)
    keeps many workers that failed together from retrying together.
    """
    if retry_after is not None:
        return min(cap * 4, retry_after + random.uniform(0, 1))
    step = min(cap, base * 2 ** max(0, attempt - 1))
    return random.uniform(step / 2, step)
