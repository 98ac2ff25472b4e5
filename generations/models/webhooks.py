"""The callbacks taken, by their ``webhook-id``: a repeat of one is dropped, as Standard Webhooks asks."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from generations.models.jobs import JobSet


class WebhookDelivery(models.Model):
    """One callback that moved a job set's next poll (generations.actions.webhooks writes them).

    Kept a while (``actions.webhooks.ID_MEMORY``) so a sender's retry or a replay of the same
    message is recognised and does nothing; the newest one's time also spaces the polls a
    stream of callbacks can bring forward. In the database rather than the cache: every web
    worker sees the same rows, and a restart forgets nothing.
    """

    job_set = models.ForeignKey(JobSet, on_delete=models.CASCADE, related_name="webhook_deliveries")
    webhook_id = models.CharField(max_length=255)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job_set", "webhook_id"], name="one_delivery_per_webhook_id")
        ]

    def __str__(self) -> str:
        return f"{self.webhook_id} for job set {self.job_set_id}"
