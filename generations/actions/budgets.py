"""Setting a team's monthly budgets: the team's own and each member's."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from generations.models import Budget, Team


@transaction.atomic
def set_budgets(team: Team, limits: dict[int | None, Decimal | None]) -> None:
    """Monthly limits by user id (None: the team's own); a limit of None removes that budget."""
    for user_id, amount in limits.items():
        if amount is None:
            for budget in Budget.objects.filter(team=team, user_id=user_id):
                budget.delete()  # one by one, so the history records each
        else:
            Budget.objects.update_or_create(team=team, user_id=user_id, defaults={"monthly_limit": amount})
