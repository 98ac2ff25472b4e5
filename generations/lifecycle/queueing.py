"""Which waiting job set goes next: the fair-share rule, as plain values in and out.

No database, no clock: the sender (generations.lifecycle.send.claim_next) reads the
counts and calls ``pick_next``; the waiting cards call ``order`` with the same values
to say where each one is in line, so the line shown is the line taken.

The rule: when a slot frees, the next job set is the oldest of the person with the
fewest in flight; ties go to the team with the fewest in flight, then the oldest
overall. A paused team's job sets are skipped, and so are those of a team at its
share of the limit; nothing goes while the whole limit is in use. A FIFO line would
let one person with 40 waiting hold back a teammate's one for 40 sends; this lets the
teammate's go within the next two (docs/DECISIONS.md, "A fair queue").
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Waiting:
    """A waiting job set that is due to go."""

    id: int
    user_id: int
    team_id: int | None
    created_at: datetime


def _key(item: Waiting, by_user: Mapping[int, int], by_team: Mapping[int | None, int]) -> tuple:
    return (by_user.get(item.user_id, 0), by_team.get(item.team_id, 0), item.created_at, item.id)


def _team_full(team_id: int | None, by_team: Mapping[int | None, int], team_caps: Mapping) -> bool:
    share = team_caps.get(team_id)
    return share is not None and by_team.get(team_id, 0) >= share


def pick_next(
    waiting: Sequence[Waiting],
    in_flight_by_user: Mapping[int, int],
    in_flight_by_team: Mapping[int | None, int],
    total_in_flight: int,
    cap: int,
    team_caps: Mapping[int | None, int | None],
    paused_teams: Set[int],
) -> Waiting | None:
    """The job set to send now, or None (the limit is in use, or nothing may go)."""
    if total_in_flight >= cap:
        return None
    best = None
    best_key = None
    for item in waiting:
        if item.team_id in paused_teams or _team_full(item.team_id, in_flight_by_team, team_caps):
            continue
        key = _key(item, in_flight_by_user, in_flight_by_team)
        if best_key is None or key < best_key:
            best, best_key = item, key
    return best


def order(
    waiting: Sequence[Waiting],
    in_flight_by_user: Mapping[int, int],
    in_flight_by_team: Mapping[int | None, int],
    team_caps: Mapping[int | None, int | None],
    paused_teams: Set[int],
) -> list[Waiting]:
    """The whole line, in the order ``pick_next`` would take it as slots keep freeing.

    Each pick counts as one more in flight for its person and team, as it would once
    sent. A paused team's job sets are left out (they have no place until resumed); those
    of a team that has reached its share come after the rest, oldest first, since they go
    only as that team's own slots free. The site-wide limit does not change the order, only
    when the first goes, so it is not asked.
    """
    by_user: Counter = Counter(in_flight_by_user)
    by_team: Counter = Counter(in_flight_by_team)
    heap = [(_key(item, by_user, by_team), item) for item in waiting if item.team_id not in paused_teams]
    heapq.heapify(heap)
    line: list[Waiting] = []
    held: list[Waiting] = []
    while heap:
        key, item = heapq.heappop(heap)
        current = _key(item, by_user, by_team)
        if current != key:
            # Counts only grow, so a stale key is only ever too small: put it back re-keyed.
            heapq.heappush(heap, (current, item))
            continue
        if _team_full(item.team_id, by_team, team_caps):
            held.append(item)
            continue
        line.append(item)
        by_user[item.user_id] += 1
        by_team[item.team_id] += 1
    line.extend(sorted(held, key=lambda item: (item.created_at, item.id)))
    return line
