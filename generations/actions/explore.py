"""Exploring: send every combination of one form as job sets of their own, all or none; cancel the rest.

An exploration's job sets are ordinary job sets (their own record, price snapshot and charge), so
the fair queue (generations.lifecycle.queueing) takes them in turn with everyone else's. What is
particular is how they are made: in ONE transaction, after ONE budget check for their total, so
an exploration that does not fit is refused whole and nothing of it is stored or sent.
"""

from __future__ import annotations

import base64
import secrets
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from generations.actions import queue
from generations.ledger import budgets, rollup
from generations.lifecycle import send
from generations.models import Exploration, JobSet
from generations.models.exploring import Plan

Status = JobSet.Status


class OverBudget(budgets.BudgetExceeded):
    """The whole exploration does not fit a budget: nothing was made. Says by how much it is over."""

    def __init__(self, state: budgets.BudgetState, price: Decimal, count: int):
        super().__init__(state, price)
        self.count = count
        self.over = (state.used + price - state.limit).quantize(budgets.CENT)
        self.args = (
            f"This exploration would go over {state.label}: its {count} requests cost ${price}, "
            f"${state.left} is left of ${state.limit} this month, so it is ${self.over} over. "
            "Nothing was sent.",
        )

    def __str__(self) -> str:
        return self.args[0]


def create(user, team, plan: Plan, prompt: str) -> Exploration:
    """Store the exploration and one waiting job set per combination, then have them sent.

    Raises OverBudget, having stored nothing, when their total would pass a budget.
    """
    now = timezone.now()
    with transaction.atomic():
        prices: dict[tuple[str, int], Decimal] = {}
        for combination in plan.combinations:
            key = (combination.request.quality, combination.request.batch_size)
            if key not in prices:
                prices[key] = combination.request.price()
        total = sum(
            (prices[(c.request.quality, c.request.batch_size)] for c in plan.combinations), Decimal("0.00")
        )
        try:
            budgets.hold(user, team, total)  # the team's lock, then every budget against the total
        except budgets.BudgetExceeded as exc:
            raise OverBudget(exc.state, total, plan.count) from None
        first = plan.combinations[0].request
        exploration = Exploration.objects.create(
            user=user,
            team=team,
            created_at=now,
            prompt=prompt,
            request=first.parameters(),
            axes=plan.axes_json(),
            count=plan.count,
            price=total,
        )
        job_sets = [
            JobSet(
                user=user,
                team=team,
                price=prices[(c.request.quality, c.request.batch_size)],
                status=Status.WAITING,
                due_at=now,
                # One moment for all: the fair queue then takes them in the order they were planned.
                created_at=now,
                exploration=exploration,
                exploration_index=index,
                exploration_label=c.label[:200],
                **_webhook_fields(),
                **c.request.job_set_fields(),
            )
            for index, c in enumerate(plan.combinations)
        ]
        created = JobSet.objects.bulk_create(job_sets)
        # Same person, team and day: one row of the roll-up holds them all.
        rollup.refresh(created[0])
        transaction.on_commit(send.enqueue_send)
    return exploration


def _webhook_fields() -> dict:
    # As generations.actions.jobsets.create: a token and a secret of each job set's own.
    if not settings.SOUL_PUBLIC_URL:
        return {}
    return {
        "webhook_token": secrets.token_urlsafe(32),
        "webhook_secret": "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
    }


def cancel_rest(job_sets: list[JobSet], user) -> int:
    """Cancel those of ``job_sets`` still waiting here (never sent, never charged); how many were.

    The caller passes only the job sets ``user`` may cancel (generations.queries.access.may_manage).
    Those already sent go on and are charged as usual.
    """
    waiting = [job_set for job_set in job_sets if job_set.status == Status.WAITING]
    return sum(
        queue.cancel(js, user, why="with the rest of its exploration", what="cancel the rest")
        for js in waiting
    )
