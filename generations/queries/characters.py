"""A team's saved characters."""

from __future__ import annotations

from django.db.models import QuerySet

from generations.models import Character, Team
from generations.queries import teams


def of_team(team: Team | None) -> QuerySet[Character]:
    """``team``'s characters by name (none without a team)."""
    return Character.objects.filter(team=team) if team else Character.objects.none()


def visible(user) -> QuerySet[Character]:
    """The characters of every team ``user`` is in (their pictures are for those teams only)."""
    return Character.objects.filter(team__in=teams.team_ids(user))
