"""Money: totals by period in the site's time zone, budgets and the check that holds them.

Spend is counted from job sets' price snapshots: charged plus reserved (see
generations.lifecycle.policy for which is which). An unconfirmed job set is reserved until
someone settles it or a resend of it is answered, so it counts against budgets meanwhile;
sending it again reserves nothing more (it is the same job set). Periods are calendar days and months
in ``TIME_ZONE``. The spend page and the header chip read the daily roll-up (see
generations.ledger.rollup). Budgets read this month's job sets: the check that holds
them runs under the team's lock, against the very rows a concurrent submit adds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from generations.models import Budget, JobSet, Lease, SpendDay

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
COUNTED = (JobSet.Charge.CHARGED, JobSet.Charge.RESERVED)
WARN_AT = Decimal("0.8")


def cents(value) -> Decimal:
    # SQLite adds decimals as floats: bring sums back to whole cents.
    return Decimal(str(value or 0)).quantize(CENT)


def day_start(now: datetime | None = None) -> datetime:
    local = timezone.localtime(now or timezone.now())
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def month_start(now: datetime | None = None) -> datetime:
    return day_start(now).replace(day=1)


@dataclass(frozen=True)
class Totals:
    charged: Decimal = ZERO
    reserved: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.charged + self.reserved

    def __add__(self, other: Totals) -> Totals:
        return Totals(self.charged + other.charged, self.reserved + other.reserved)


def totals(job_sets: QuerySet[JobSet]) -> Totals:
    sums = job_sets.aggregate(
        charged=Sum("price", filter=Q(charge=JobSet.Charge.CHARGED)),
        reserved=Sum("price", filter=Q(charge=JobSet.Charge.RESERVED)),
    )
    return Totals(cents(sums["charged"]), cents(sums["reserved"]))


def period_totals(now: datetime | None = None, **scope) -> dict[str, Totals]:
    """Today, this month and all time for the job sets ``scope`` picks (``user=``, ``team=``).

    One query over the daily roll-up: a row per day, however many job sets.
    """
    today = timezone.localdate(now)
    return _totals_since(SpendDay.objects.filter(**scope), today=today, month=today.replace(day=1), all=None)


def recent_totals(now: datetime | None = None, **scope) -> dict[str, Totals]:
    """Today and this month only (the header chip's numbers): this month's rows of the roll-up."""
    today = timezone.localdate(now)
    month = today.replace(day=1)
    return _totals_since(SpendDay.objects.filter(**scope, day__gte=month), today=today, month=month)


def _totals_since(days: QuerySet[SpendDay], **firsts: date | None) -> dict[str, Totals]:
    """Charged and reserved over the days from each first day on (``None``: every day)."""
    sums = days.aggregate(
        **{
            f"{period}_{kind}": Sum(kind, filter=Q(day__gte=first) if first else None)
            for period, first in firsts.items()
            for kind in ("charged", "reserved")
        }
    )
    return {
        period: Totals(cents(sums[f"{period}_charged"]), cents(sums[f"{period}_reserved"]))
        for period in firsts
    }


def month_total(job_sets: QuerySet[JobSet], now: datetime | None = None) -> Totals:
    return totals(job_sets.filter(created_at__gte=month_start(now)))


# --- Budgets ---------------------------------------------------------------------


@dataclass(frozen=True)
class BudgetState:
    label: str  # "your monthly budget in Alpha" / "Alpha's monthly budget"
    limit: Decimal
    used: Decimal

    @property
    def left(self) -> Decimal:
        return max(ZERO, self.limit - self.used)

    @property
    def share_used(self) -> Decimal:
        return self.used / self.limit if self.limit else Decimal(1)

    @property
    def percent_used(self) -> int:
        return int(self.share_used * 100)

    @property
    def warn(self) -> bool:
        return self.share_used >= WARN_AT

    def allows(self, price: Decimal) -> bool:
        return self.used + price <= self.limit


class BudgetExceeded(Exception):
    def __init__(self, state: BudgetState, price: Decimal):
        self.state, self.price = state, price
        super().__init__(
            f"This would go over {state.label}: ${state.left} is left of ${state.limit} this month, "
            f"and this request costs ${price}."
        )


def budget_states(user, team, now: datetime | None = None) -> list[BudgetState]:
    """The budgets that apply to ``user`` working in ``team``, with what is used this month."""
    if team is None:
        return []
    states = []
    for budget in Budget.objects.filter(Q(user=user) | Q(user__isnull=True), team=team).order_by("user"):
        if budget.user_id:
            used = month_total(JobSet.objects.filter(team=team, user=user), now).total
            label = f"your monthly budget in {team.name}"
        else:
            used = month_total(JobSet.objects.filter(team=team), now).total
            label = f"{team.name}'s monthly budget"
        states.append(BudgetState(label, budget.monthly_limit, used))
    return states


def tightest(states: list[BudgetState]) -> BudgetState | None:
    return min(states, key=lambda state: state.left, default=None)


def hold(user, team, price: Decimal) -> None:
    """Refuse a request that would push charged + reserved past a budget.

    Call inside the transaction that creates the job set: the team's lock row
    makes concurrent submits in one team wait for each other (a row lock on
    PostgreSQL; SQLite's IMMEDIATE transaction serialises already), so two
    people cannot both spend the last dollar.
    """
    if team is None:
        return
    Lease.lock_row(f"budget:{team.pk}")
    for state in budget_states(user, team):
        if not state.allows(price):
            raise BudgetExceeded(state, price)
