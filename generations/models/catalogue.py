"""The style catalogue and the price table."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from soulwire import params


class Style(models.Model):
    """A Soul style from the gateway's catalogue. Never deleted: old job sets keep their name."""

    id = models.UUIDField(primary_key=True, help_text="The upstream style id.")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    preview_url = models.URLField(
        max_length=2083, blank=True, help_text="Where the gateway keeps the preview."
    )
    preview = models.ImageField(upload_to="styles/", blank=True, help_text="Our copy of the preview.")
    is_active = models.BooleanField(default=True, help_text="Offered on the generate form.")
    position = models.PositiveIntegerField(default=0, help_text="Order on the form (lower first).")

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class Price(models.Model):
    """What one job set costs, from a date on. History is never rewritten: job sets snapshot it."""

    quality = models.CharField(max_length=8, choices=[(q, q) for q in params.QUALITIES])
    batch_size = models.PositiveSmallIntegerField(choices=[(b, str(b)) for b in params.BATCH_SIZES])
    amount = models.DecimalField(max_digits=8, decimal_places=2, help_text="USD per job set.")
    effective_from = models.DateField(default=timezone.localdate)
    history = HistoricalRecords()

    class Meta:
        ordering = ["quality", "batch_size", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["quality", "batch_size", "effective_from"], name="one_price_per_day"
            ),
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="price_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.quality} × {self.batch_size}: ${self.amount} from {self.effective_from}"

    @classmethod
    def current(cls, quality: str, batch_size: int, on=None) -> Decimal:
        """The price in force on ``on`` (today by default)."""
        on = on or timezone.localdate()
        price = (
            cls.objects.filter(quality=quality, batch_size=batch_size, effective_from__lte=on)
            .order_by("-effective_from")
            .values_list("amount", flat=True)
            .first()
        )
        if price is None:
            raise cls.DoesNotExist(f"No price is set for {quality} with batch size {batch_size}.")
        return price
