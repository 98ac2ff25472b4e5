"""Uploaded reference images, as the public links the gateway fetches them by name them."""

from __future__ import annotations

from generations.models import ReferenceUpload
from generations.upstream import references


def for_link(token: str) -> ReferenceUpload | None:
    """The upload a signed link names, if the link is genuine and not expired."""
    return references.resolve(token)


def reusable(team, key) -> ReferenceUpload | None:
    """An upload of ``team``'s, by its key, for "use these settings" (None if gone or another team's)."""
    return ReferenceUpload.objects.filter(team=team, key=key).first()
