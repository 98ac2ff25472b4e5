"""What a generation can refer to: saved characters and uploaded reference images."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from generations.models.teams import Team


class Character(models.Model):
    """An existing Soul character (custom reference), registered by its upstream UUID.

    Creating a character upstream is not part of the documented API, so soulsite
    only keeps a name for one that exists already.
    """

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="characters")
    name = models.CharField(max_length=100)
    upstream_id = models.UUIDField("character id", help_text="The character's UUID in Higgsfield.")
    thumbnail = models.ImageField(upload_to="characters/", blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["team", "name"]
        constraints = [
            models.UniqueConstraint(fields=["team", "name"], name="one_character_name_per_team"),
            models.UniqueConstraint(fields=["team", "upstream_id"], name="one_character_per_team"),
        ]

    def __str__(self) -> str:
        return self.name


def upload_path(upload: ReferenceUpload, filename: str) -> str:
    return f"uploads/{upload.team_id}/{upload.key}.{filename.rsplit('.', 1)[-1].lower()}"


class ReferenceUpload(models.Model):
    """An image someone uploaded to use as an image reference.

    The gateway fetches it through a signed, expiring public link (see
    generations.upstream.references); nothing else serves it without a login.
    """

    key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="uploads")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    file = models.ImageField(upload_to=upload_path, width_field="width", height_field="height")
    width = models.PositiveIntegerField(null=True)
    height = models.PositiveIntegerField(null=True)
    content_type = models.CharField(max_length=50)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"upload {self.key}"
