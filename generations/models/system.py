"""Site-wide state: the gateway's paused state and named leases."""

from __future__ import annotations

from django.db import models


class GatewayState(models.Model):
    """Site-wide facts about the gateway, one row: paused sending, a lowered concurrency."""

    paused = models.BooleanField(default=False)
    paused_reason = models.TextField(blank=True)
    paused_status = models.PositiveSmallIntegerField(null=True, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    last_probe_at = models.DateTimeField(null=True, blank=True)
    # After a 400 "concurrent requests" answer: how many the upstream seems to allow, until when.
    concurrency_limit = models.PositiveSmallIntegerField(null=True, blank=True)
    concurrency_limit_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "gateway state"
        verbose_name_plural = "gateway state"

    def __str__(self) -> str:
        return "Sending paused" if self.paused else "Sending normally"

    @classmethod
    def get(cls) -> GatewayState:
        state, _ = cls.objects.get_or_create(pk=1)
        return state


class Lease(models.Model):
    """A named lock held by one worker until it expires (the tracker loop, the send slot)."""

    name = models.CharField(max_length=50, primary_key=True)
    holder = models.CharField(max_length=100, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} held by {self.holder or 'nobody'}"

    @classmethod
    def lock_row(cls, name: str) -> None:
        """Lock the row ``name`` until the surrounding transaction ends (created if missing).

        Use inside ``transaction.atomic()``: callers that lock the same row run one at a
        time (a row lock on PostgreSQL; SQLite's IMMEDIATE transaction serialises already).
        """
        cls.objects.get_or_create(name=name)
        cls.objects.select_for_update().get(name=name)
