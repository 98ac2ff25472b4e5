"""What people keep: favourite images, collections to file them in, and hidden ones."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from generations.models.jobs import Job
from generations.models.teams import Team


class Favourite(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="favourites")
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="favourites")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "job"], name="one_star_per_image")]

    def __str__(self) -> str:
        return f"{self.user} ★ {self.job}"


class Collection(models.Model):
    """A named set of images: personal, or shared with the team it was made in."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="collections")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="collections")
    name = models.CharField(max_length=100)
    shared = models.BooleanField(
        default=False, help_text="Everyone in the team sees it and can file into it."
    )
    jobs = models.ManyToManyField(Job, through="CollectionItem", related_name="collections")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["team", "owner", "name"], name="one_collection_name")]

    def __str__(self) -> str:
        return self.name


class CollectionItem(models.Model):
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="items")
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="+")
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["collection", "job"], name="one_item_per_collection")]

    def __str__(self) -> str:
        return f"{self.job} in {self.collection}"
