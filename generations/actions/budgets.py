"""Setting a team's monthly budgets: the team's own and each member's."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from generations.models import Budget, Team

CENT = Decimal("0.01")
# The largest limit Budget.monthly_limit holds (max_digits=10, decimal_places=2).
MAX_LIMIT = Decimal("99999999.99")


class BadLimit(ValueError):
    """A limit that is not a sum of dollars the table can hold; nothing was saved."""


@transaction.atomic
def set_budgets(team: Team, limits: dict[int | None, Decimal | None]) -> None:
    """Monthly limits by user id (None: the team's own); a limit of None removes that budget.

    Every limit is checked before any is saved: a bad one (BadLimit) changes nothing.
    """
    limits = {user_id: _checked(amount) for user_id, amount in limits.items()}
    for user_id, amount in limits.items():
        if amount is None:
            for budget in Budget.objects.filter(team=team, user_id=user_id):
                budget.delete()  # one by one, so the history records each
        else:
            Budget.objects.update_or_create(team=team, user_id=user_id, defaults={"monthly_limit": amount})


def _checked(amount: Decimal | None) -> Decimal | None:
    if amount is None:
        return None
    # Bounded before quantize(), which raises on a number too long for the context.
    if isinstance(amount, Decimal) and amount.is_finite() and abs(amount) <= MAX_LIMIT:
        cents = amount.quantize(CENT) + 0  # + 0: -0.00 is 0.00
        if 0 <= cents <= MAX_LIMIT:
            return cents
    raise BadLimit(f"A monthly limit is from $0 to ${MAX_LIMIT:,}, not {amount!r}.")
