"""An exploration: one prompt tried many ways at once (several styles, seeds, sizes, qualities,
alternatives in the prompt, repeats), sent from one press of Generate.

Each combination is an ordinary job set (its own record, price snapshot and charge, in the same
fair queue as everyone's), pointing back here with its place in the grid. This row keeps what
was asked and which axes vary, so the contact sheet can label its rows and columns.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from generations.models.teams import Team


class Exploration(models.Model):
    """The axes of a contact sheet and who asked for it; the job sets hold everything else."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="explorations")
    team = models.ForeignKey(
        Team, on_delete=models.PROTECT, related_name="explorations", null=True, blank=True
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # The prompt as typed, alternatives and all ("a {red|blue} fox").
    prompt = models.TextField()
    # The form's request with the values that do not vary (SoulRequest.parameters of the first combination).
    request = models.JSONField(default=dict, blank=True)
    # What varies, in grid order: [{"key": "style", "title": "Style", "labels": ["Realistic", ...]}, ...].
    # The first axis runs down the rows, the others together across the columns.
    axes = models.JSONField(default=list, blank=True)
    count = models.PositiveSmallIntegerField(help_text="Job sets made (one per combination).")
    price = models.DecimalField(max_digits=10, decimal_places=2, help_text="USD, the sum of the snapshots.")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Exploration #{self.pk}: {self.count} × {self.prompt[:40]}"

    @property
    def title(self) -> str:
        """'Style × Seed' (what varies), as the sheet and the gallery's group card say it."""
        return " × ".join(axis["title"] for axis in self.axes) or "Repeat"

    def _split(self) -> tuple[list[dict], list[dict]]:
        """The axes down the rows and across the columns: the first one down, the others across;
        a single axis runs across (one row), so a list of seeds reads left to right."""
        if len(self.axes) < 2:
            return [], list(self.axes)
        return list(self.axes[:1]), list(self.axes[1:])

    @property
    def row_labels(self) -> list[str]:
        rows, _ = self._split()
        return list(rows[0]["labels"]) if rows else [""]

    @property
    def row_title(self) -> str:
        rows, _ = self._split()
        return rows[0]["title"] if rows else ""

    @property
    def column_labels(self) -> list[str]:
        """The other axes' labels, combined in the order the combinations were made."""
        _, columns = self._split()
        labels = [""]
        for axis in columns:
            labels = [
                f"{before} · {label}" if before else label for before in labels for label in axis["labels"]
            ]
        return labels

    def position(self, index: int) -> tuple[int, int]:
        """(row, column) of the combination made ``index``-th: they were made row by row."""
        columns = len(self.column_labels)
        return divmod(index, columns)
