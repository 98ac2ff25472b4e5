"""Teams, who belongs to them and in what role, and which team a person works in."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords


class Team(models.Model):
    name = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    # The team's share of the site-wide in-flight limit (SOUL_MAX_IN_FLIGHT): at most this many
    # of its job sets with the gateway at once. Empty: no share of its own, the whole limit.
    max_in_flight = models.PositiveSmallIntegerField(
        "share of the in-flight limit", null=True, blank=True, help_text="Empty: the whole site-wide limit."
    )
    # A manager paused the team's queue: its waiting job sets stay here until resumed.
    queue_paused_at = models.DateTimeField(null=True, blank=True)
    queue_paused_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Who changed the share or paused and resumed the queue, and when (django-simple-history).
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        MEMBER = "member", "Member"
        MANAGER = "manager", "Manager"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)
    # Who added, promoted or removed whom, and when (shown in admin).
    history = HistoricalRecords()

    class Meta:
        ordering = ["team", "user"]
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="one_membership_per_team")]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.get_role_display()})"

    @property
    def is_manager(self) -> bool:
        return self.role == self.Role.MANAGER


class Profile(models.Model):
    """Per-person settings that outlive a session: the team they work in now."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    current_team = models.ForeignKey(Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    def __str__(self) -> str:
        return f"{self.user}'s profile"


class Budget(models.Model):
    """A monthly spending limit for a team, or for one person within a team."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="budgets")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="budgets",
        help_text="Empty: the limit is for the whole team.",
    )
    monthly_limit = models.DecimalField(max_digits=10, decimal_places=2, help_text="USD per calendar month.")
    history = HistoricalRecords()

    class Meta:
        ordering = ["team", "user"]
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="one_budget_per_member"),
            models.UniqueConstraint(
                fields=["team"], condition=models.Q(user__isnull=True), name="one_budget_per_team"
            ),
            models.CheckConstraint(condition=models.Q(monthly_limit__gte=0), name="budget_not_negative"),
        ]

    def __str__(self) -> str:
        who = self.user.get_username() if self.user_id else "whole team"
        return f"{self.team}: {who}, ${self.monthly_limit} a month"
