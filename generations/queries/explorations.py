"""Reading explorations: who may see one, its contact sheet, what one would cost, what they cost.

An exploration is seen by whoever sees its job sets (the team's members, staff), by the same
rule as generations.queries.access.visible_job_sets, so its address can be shared with the team.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Prefetch, Q, QuerySet, Sum

from generations.ledger import budgets
from generations.ledger.budgets import ZERO, BudgetState, cents
from generations.models import Exploration, Job, JobSet, Price, Team
from generations.queries import teams


def visible(user) -> QuerySet[Exploration]:
    """The explorations ``user`` may see: those of every team they belong to (staff: all)."""
    if user.is_staff:
        return Exploration.objects.all()
    return Exploration.objects.filter(Q(team__in=teams.team_ids(user)) | Q(team__isnull=True, user=user))


def job_sets(exploration: Exploration) -> list[JobSet]:
    """Its job sets in grid order, each with all its images (hidden ones too) in ``sheet_jobs``."""
    jobs = Job.objects.order_by("job_set_id", "index")
    return list(
        exploration.job_sets.select_related("style", "user")
        .prefetch_related(Prefetch("jobs", jobs, to_attr="sheet_jobs"))
        .order_by("exploration_index", "id")
    )


@dataclass(frozen=True)
class Sheet:
    exploration: Exploration
    column_labels: list[str]
    rows: list[tuple[str, list[JobSet | None]]]  # (row label, a job set per column)
    job_sets: list[JobSet]

    @property
    def pending(self) -> bool:
        return any(job_set.is_pending for job_set in self.job_sets)

    @property
    def done(self) -> int:
        return sum(not job_set.is_pending for job_set in self.job_sets)

    @property
    def image_ids(self) -> list[int]:
        return [job.pk for job_set in self.job_sets for job in job_set.sheet_jobs if job.image]

    @property
    def waiting(self) -> int:
        return sum(job_set.status == JobSet.Status.WAITING for job_set in self.job_sets)


def sheet(exploration: Exploration) -> Sheet:
    """The contact sheet: a row per value of the first axis, a column per combination of the others."""
    members = job_sets(exploration)
    columns = exploration.column_labels
    grid: list[list[JobSet | None]] = [[None] * len(columns) for _ in exploration.row_labels]
    for job_set in members:
        row, column = exploration.position(job_set.exploration_index or 0)
        if row < len(grid) and column < len(columns):
            grid[row][column] = job_set
    rows = list(zip(exploration.row_labels, grid, strict=True))
    return Sheet(exploration, columns, rows, members)


def leading(exploration: Exploration) -> list[JobSet]:
    """Its first job set, as a list of cards to draw: the gallery shows an exploration as one group card."""
    return list(exploration.job_sets.select_related("style", "user").order_by("exploration_index", "id")[:1])


@dataclass(frozen=True)
class Estimate:
    """What the Generate button says while exploring: "6 requests · $0.90", or what is wrong."""

    count: int
    cost: Decimal | None  # None: a quality has no price set, or the count is refused
    budget: BudgetState | None  # the budget with the least left, if any applies
    over: bool  # the cost would go over one of the budgets
    over_by: Decimal  # how much, for the first budget it passes (as the check on sending says)
    problem: str = ""  # why it cannot be sent as it is (a seed list that does not parse, the limit)

    @classmethod
    def refused(cls, problem: str, count: int = 0) -> Estimate:
        return cls(count, None, None, False, ZERO, problem)

    @property
    def left(self) -> Decimal | None:
        return self.budget.left if self.budget else None


def estimate(user, team: Team | None, count: int, qualities: Sequence[str], batch_size: int) -> Estimate:
    """What ``count`` requests spread evenly over ``qualities`` cost, and whether the budgets allow it.

    An exploration makes as many combinations of each quality (they are one axis of the product).
    """
    states = budgets.budget_states(user, team)
    try:
        each = [Price.current(quality, batch_size) for quality in qualities]
    except Price.DoesNotExist:
        return Estimate(count, None, budgets.tightest(states), False, ZERO)
    cost = (sum(each, ZERO) * (count // max(len(qualities), 1))).quantize(budgets.CENT)
    passed = [state for state in states if not state.allows(cost)]
    # As the action's check says it: by how much the first budget it passes is passed.
    over_by = passed[0].used + cost - passed[0].limit if passed else ZERO
    return Estimate(count, cost, budgets.tightest(states), bool(passed), cents(over_by))


@dataclass(frozen=True)
class Spent:
    exploration: Exploration
    job_sets: int
    charged: Decimal
    reserved: Decimal

    @property
    def total(self) -> Decimal:
        return self.charged + self.reserved


def spent(scope: dict, start, end) -> list[Spent]:
    """Each exploration with job sets in the period and scope (``team=``, ``user=``), with what they count."""
    rows = (
        JobSet.objects.filter(**scope, created_at__gte=start, created_at__lt=end, exploration__isnull=False)
        .values("exploration_id")
        .annotate(
            n=Count("id"),
            charged=Sum("price", filter=Q(charge=JobSet.Charge.CHARGED)),
            reserved=Sum("price", filter=Q(charge=JobSet.Charge.RESERVED)),
        )
        .order_by("-exploration_id")
    )
    rows = list(rows[:200])
    found = Exploration.objects.select_related("user").in_bulk([row["exploration_id"] for row in rows])
    return [
        Spent(found[row["exploration_id"]], row["n"], cents(row["charged"]), cents(row["reserved"]))
        for row in rows
        if row["exploration_id"] in found
    ]
