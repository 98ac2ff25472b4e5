"""Money as the pages show it: the header chip, the Generate button's price, budgets, each member's spend.

The numbers come from generations.ledger (totals, budgets, the daily roll-up);
this module only reads them for display. The spend page's report is
generations.queries.spend_report.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Sum

from generations.ledger import budgets
from generations.ledger.budgets import BudgetState, Totals, cents
from generations.models import Budget, Price, SpendDay, Team


def recent_totals(user) -> dict[str, Totals]:
    """What ``user`` spent today and this month (the header chip), in every team."""
    return budgets.recent_totals(user=user)


def period_totals(**scope) -> dict[str, Totals]:
    """Today, this month and all time for ``user=`` or ``team=``."""
    return budgets.period_totals(**scope)


def budget_states(user, team: Team | None) -> list[BudgetState]:
    """The budgets that apply to ``user`` working in ``team``, with what is used this month."""
    return budgets.budget_states(user, team)


@dataclass(frozen=True)
class PriceCheck:
    cost: Decimal | None  # None: no price is set for this quality and batch size
    budget: BudgetState | None  # the budget with the least left, if any applies
    over: bool  # the cost would go over one of the budgets


def price_check(user, team: Team | None, quality: str, batch_size: int) -> PriceCheck:
    """What a request of this quality and batch size costs, and whether the budgets allow it."""
    try:
        cost = Price.current(quality, batch_size)
    except Price.DoesNotExist:
        cost = None
    states = budgets.budget_states(user, team)
    return PriceCheck(
        cost=cost,
        budget=budgets.tightest(states),
        over=bool(cost is not None and any(not state.allows(cost) for state in states)),
    )


def member_spend(team: Team) -> dict[int, dict[str, Decimal]]:
    """Each member's spend in ``team``: charged and reserved, by user id (from the daily roll-up)."""
    rows = (
        SpendDay.objects.filter(team=team)
        .values("user_id")
        .annotate(charged=Sum("charged"), reserved=Sum("reserved"), count=Sum("job_sets"))
    )
    return {
        row["user_id"]: {
            "charged": cents(row["charged"]),
            "reserved": cents(row["reserved"]),
            "count": row["count"],
        }
        for row in rows
    }


def team_budgets(team: Team) -> dict[int | None, Decimal]:
    """Monthly limits by user id; the team's own under None."""
    return {budget.user_id: budget.monthly_limit for budget in Budget.objects.filter(team=team)}
