"""Serving a stored file, once a view has checked that the person may have it."""

from __future__ import annotations

import mimetypes
from urllib.parse import quote

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse


def file_response(name: str, content_type: str | None = None) -> HttpResponse:
    content_type = content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
    if settings.SOUL_MEDIA_ACCEL_PREFIX:
        # nginx serves the file from its internal location; access was checked here.
        response = HttpResponse(content_type=content_type)
        response["X-Accel-Redirect"] = settings.SOUL_MEDIA_ACCEL_PREFIX.rstrip("/") + "/" + quote(name)
        return response
    try:
        stream = default_storage.open(name, "rb")
    except FileNotFoundError as exc:
        raise Http404("The file is missing from storage.") from exc
    return FileResponse(stream, content_type=content_type)
