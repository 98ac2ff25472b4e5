"""The heads of the line: each person's oldest due waiting job set, per team, read in index seeks.

Only a person's oldest can go next (``queueing.pick_next``), so the sender needs one row per
person and team, never the whole line. A grouped query would still read every waiting row
(10,000 waiting from 50 people: 10,000 rows for 50 answers), so the time to pick would grow
with the line. This reads it as a loose index scan on the ``jobset_line`` index
(status, person, team, age): a recursive query hops from one person with waiting work to the
next, and within a person from one team to the next, one index seek per hop, and then takes
each group's oldest due job set with one more seek. The work grows with the number of people
waiting, not with how much they have queued (docs/DECISIONS.md, "A fair queue").

Plain SQL because the ORM cannot write a recursive query; it is the same on SQLite and
PostgreSQL (both have recursive common table expressions, and both turn
``ORDER BY ... LIMIT 1`` on an index prefix into a seek). Each ORDER BY spells out the
index's columns, status and person included though they are fixed, so that the planner
sees the index it matches: without that, PostgreSQL's generic plan walked the person index.
"""

from __future__ import annotations

import re
from datetime import datetime

from django.db import connection

from generations.lifecycle import queueing
from generations.models import JobSet

_ORDER = "ORDER BY j.status, j.user_id, j.team_id, j.created_at, j.id LIMIT 1"


def _oldest(column: str, team: str) -> str:
    """A seek for one column of a place's oldest due waiting job set."""
    where = f"j.status = %(waiting)s AND j.user_id = places.user_id AND {team} AND j.due_at <= %(now)s"
    return f"(SELECT j.{column} FROM {{table}} j WHERE {where} {_ORDER})"  # noqa: S608 - names only


# Each person's chain of teams ends in a row whose team is NULL (no team left after the last):
# that row stands for the person's job sets without a team, if any. Each head is read as two
# seeks of the same order (its age, then its id) rather than joined back to the table, which
# PostgreSQL would do by reading the whole table: it cannot tell that there are only a few heads.
_SQL = f"""
WITH RECURSIVE
people(user_id) AS (
    SELECT (SELECT j.user_id FROM {{table}} j WHERE j.status = %(waiting)s
            ORDER BY j.status, j.user_id, j.team_id, j.created_at LIMIT 1)
    UNION ALL
    SELECT (SELECT j.user_id FROM {{table}} j WHERE j.status = %(waiting)s AND j.user_id > people.user_id
            ORDER BY j.status, j.user_id LIMIT 1)
    FROM people WHERE people.user_id IS NOT NULL
),
places(user_id, team_id) AS (
    SELECT people.user_id,
           (SELECT j.team_id FROM {{table}} j WHERE j.status = %(waiting)s AND j.user_id = people.user_id
            AND j.team_id IS NOT NULL ORDER BY j.status, j.user_id, j.team_id LIMIT 1)
    FROM people WHERE people.user_id IS NOT NULL
    UNION ALL
    SELECT places.user_id,
           (SELECT j.team_id FROM {{table}} j WHERE j.status = %(waiting)s AND j.user_id = places.user_id
            AND j.team_id > places.team_id ORDER BY j.status, j.user_id, j.team_id LIMIT 1)
    FROM places WHERE places.team_id IS NOT NULL
)
SELECT {_oldest("id", "j.team_id = places.team_id")} AS id, places.user_id, places.team_id,
       {_oldest("created_at", "j.team_id = places.team_id")} AS created_at
FROM places WHERE places.team_id IS NOT NULL
UNION ALL
SELECT {_oldest("id", "j.team_id IS NULL")} AS id, places.user_id, places.team_id,
       {_oldest("created_at", "j.team_id IS NULL")} AS created_at
FROM places WHERE places.team_id IS NULL
"""  # noqa: S608 - the model's table name only; every value is a bound parameter
# The parameters by name, in the order of their placeholders; the SQL with plain ones.
_NAMES = re.findall(r"%\((\w+)\)s", _SQL)


def _sql() -> str:
    # The table name is the model's own; every value is a bound parameter.
    table = connection.ops.quote_name(JobSet._meta.db_table)
    return re.sub(r"%\((\w+)\)s", "%s", _SQL).replace("{table}", table)


def heads(now: datetime, paused: set[int]) -> list[queueing.Waiting]:
    """The oldest due waiting job set of each person in each team not paused: all ``pick_next`` needs."""
    if connection.vendor == "postgresql" and connection.in_atomic_block:
        # PostgreSQL cannot estimate a recursive query's size, guesses thousands of rows, and
        # compiles the plan with JIT: 50 ms of compiling for 5 ms of seeks. Off for this
        # transaction only (the sender's claim), so poolers and other queries are untouched.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
    values = {"waiting": JobSet.Status.WAITING.value, "now": now}
    # raw() rather than a cursor, for the ORM's conversions of the columns (SQLite's datetimes).
    rows = JobSet.objects.raw(_sql(), [values[name] for name in _NAMES])
    return [
        queueing.Waiting(row.id, row.user_id, row.team_id, row.created_at)
        for row in rows
        if row.id is not None and row.team_id not in paused
    ]
