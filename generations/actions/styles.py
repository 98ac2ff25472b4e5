"""Keep the style catalogue in step with the gateway's styles list."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.core.files.storage import default_storage
from django.db import transaction

from generations.models import Style
from generations.upstream import client as soul
from generations.upstream import downloads

log = logging.getLogger(__name__)


@dataclass
class SyncResult:
    added: int = 0
    updated: int = 0
    deactivated: int = 0
    previews: int = 0
    preview_errors: int = 0

    def __str__(self) -> str:
        text = (
            f"{self.added} added, {self.updated} updated, {self.deactivated} deactivated, "
            f"{self.previews} previews stored"
        )
        return text + (
            f", {self.preview_errors} previews could not be fetched" if self.preview_errors else ""
        )


def sync() -> SyncResult:
    """Fetch the styles list; add and update styles, deactivate (never delete) the ones gone.

    Raises SoulError when the gateway cannot be asked, and refuses an empty list
    (that is more likely a gateway fault than the end of every style).
    """
    listed = soul.get_client().styles()
    if not listed:
        raise soul.ProtocolError("The gateway listed no styles; the catalogue was left as it was.")
    result = SyncResult()
    fetch_previews = []
    with transaction.atomic():
        for position, info in enumerate(listed):
            style = Style.objects.filter(pk=info.id).first()
            if style is None:
                style = Style(pk=info.id)
                result.added += 1
            else:
                result.updated += 1
            if info.preview_url and (info.preview_url != style.preview_url or not style.preview):
                fetch_previews.append(style.pk)
            style.name, style.description, style.preview_url = info.name, info.description, info.preview_url
            style.is_active, style.position = True, position
            style.save()
        result.deactivated = (
            Style.objects.exclude(pk__in=[info.id for info in listed])
            .filter(is_active=True)
            .update(is_active=False)
        )
    for pk in fetch_previews:
        if _store_preview(Style.objects.get(pk=pk)):
            result.previews += 1
        else:
            result.preview_errors += 1
    return result


def _store_preview(style: Style) -> bool:
    old = style.preview.name if style.preview else None
    try:
        stored = downloads.fetch_file(style.preview_url, lambda ext: f"styles/{style.pk}.{ext}")
    except soul.SoulError as exc:
        log.warning("style %s: preview not fetched: %s", style.pk, exc.message)
        return False
    Style.objects.filter(pk=style.pk).update(preview=stored.name)
    if old and old != stored.name:
        default_storage.delete(old)
    return True
