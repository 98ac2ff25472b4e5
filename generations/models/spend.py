"""The daily spend roll-up: what one person spent in one team on one day.

Derived data: every row can be recomputed from job sets, jobs and stars, and
generations.ledger.rollup is the only code that writes it (see there for why it
exists and how it stays exact).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from generations.models.teams import Team


class SpendDay(models.Model):
    # A calendar day in TIME_ZONE: periods on the spend page are whole local days.
    day = models.DateField()
    # Indexed below, together with the day every query asks about.
    team = models.ForeignKey(
        Team, on_delete=models.CASCADE, null=True, blank=True, related_name="+", db_index=False
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )

    # Sums of the job sets' price snapshots, split as generations.lifecycle.policy decides.
    charged = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    reserved = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    job_sets = models.PositiveIntegerField(default=0)
    released = models.PositiveIntegerField(default=0, help_text="Job sets that were not charged.")
    # Completed images we stored, and those of them someone starred or downloaded full size.
    delivered_images = models.PositiveIntegerField(default=0)
    kept_images = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "user", "day"], name="one_spend_day"),
            # NULLs never clash in a unique index: people outside any team need their own rule.
            models.UniqueConstraint(
                fields=["user", "day"], condition=models.Q(team__isnull=True), name="one_spend_day_no_team"
            ),
        ]
        indexes = [
            models.Index(fields=["team", "day"], name="spendday_team_day"),
            models.Index(fields=["user", "day"], name="spendday_user_day"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team or 'no team'} on {self.day}"
