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
from collections import Counter, defaultdict, deque
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

    One person's job sets in one team share both counts, so they go oldest first: each such
    queue offers only its oldest. Within a team, the team's count is the same for all, so a
    heap per team orders its people's oldest by (person's count, age); each pick compares the
    teams' bests. A pick costs a few heap steps and one look per team, where keeping every job
    set in one heap re-sorted all of a person's others after each of their picks (1,000
    waiting took 0.1 s, 10,000 took 12 s).
    """
    by_user: Counter = Counter(in_flight_by_user)
    by_team: Counter = Counter(in_flight_by_team)
    queues: dict[tuple[int, int | None], deque[Waiting]] = defaultdict(deque)
    for item in sorted(waiting, key=lambda item: (item.created_at, item.id)):
        if item.team_id not in paused_teams:
            queues[(item.user_id, item.team_id)].append(item)
    # Per team: (person's count, age, id, person) of each of its people's oldest.
    teams: dict[int | None, list] = defaultdict(list)
    for (user_id, team_id), queue in queues.items():
        teams[team_id].append((by_user[user_id], queue[0].created_at, queue[0].id, user_id))
    for heap in teams.values():
        heapq.heapify(heap)
    line: list[Waiting] = []
    held: list[Waiting] = []
    while teams:
        best = None
        for team_id in list(teams):
            heap = teams[team_id]
            if _team_full(team_id, by_team, team_caps):
                held.extend(item for *_, user_id in heap for item in queues[(user_id, team_id)])
                del teams[team_id]
                continue
            # A person's count grows with their picks in other teams too: an entry is only ever
            # too small, so once the top is current it is the least.
            while heap[0][0] != by_user[heap[0][3]]:
                _, created_at, item_id, user_id = heapq.heappop(heap)
                heapq.heappush(heap, (by_user[user_id], created_at, item_id, user_id))
            count, created_at, item_id, _ = heap[0]
            key = (count, by_team[team_id], created_at, item_id)
            if best is None or key < best[0]:
                best = (key, team_id)
        if best is None:
            break
        team_id = best[1]
        heap = teams[team_id]
        user_id = heapq.heappop(heap)[3]
        queue = queues[(user_id, team_id)]
        line.append(queue.popleft())
        by_user[user_id] += 1
        by_team[team_id] += 1
        if queue:
            heapq.heappush(heap, (by_user[user_id], queue[0].created_at, queue[0].id, user_id))
        if not heap:
            del teams[team_id]
    line.extend(sorted(held, key=lambda item: (item.created_at, item.id)))
    return line
