"""Files: stored results, style previews, and the signed public links to uploaded references."""

from __future__ import annotations

import mimetypes

from django.contrib.auth.decorators import login_not_required
from django.contrib.staticfiles import finders
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.templatetags.static import static
from django.views.decorators.http import require_GET

from generations.actions import keeping
from generations.models import Style
from generations.queries import access, uploads
from generations.web import exports
from generations.web.files import file_response


@require_GET
def image(request: HttpRequest, pk: int, kind: str) -> FileResponse:
    """A stored result, only to someone who may see its job set."""
    download = bool(request.GET.get("download"))
    jobs = access.visible_jobs(request.user)
    if download:  # the file's metadata names the style and the character
        jobs = jobs.select_related("job_set__style", "job_set__character")
    job = get_object_or_404(jobs, pk=pk)
    field = job.image if kind == "raw" else (job.preview or job.image)
    if not field:
        raise Http404("This image has not been downloaded.")
    if not download:
        # Shown in a page: the stored bytes as they are (nginx may send them, see file_response).
        response = file_response(field.name)
    else:
        # Saved by a person: the file carries its prompt, seed and settings (generations/web/exports.py).
        try:
            data = exports.with_metadata(job, field.name)
        except FileNotFoundError as exc:
            raise Http404("The file is missing from storage.") from exc
        response = HttpResponse(
            data, content_type=mimetypes.guess_type(field.name)[0] or "application/octet-stream"
        )
        response["Content-Disposition"] = f'attachment; filename="{exports.file_name(job, kind)}"'
        if kind == "raw" and job.kept_at is None:
            keeping.mark_kept([job.pk])  # the spend page counts kept images
    # Results never change once stored; private so shared caches keep none.
    response["Cache-Control"] = "private, max-age=31536000, immutable"
    return response


@require_GET
def style_preview(request: HttpRequest, pk) -> HttpResponse:
    """Our copy of a style's preview; the shipped one for known styles; else 404."""
    style = get_object_or_404(Style, pk=pk)
    if style.preview:
        response = file_response(style.preview.name)
        response["Cache-Control"] = "private, max-age=86400"
        return response
    if finders.find(f"styles/{style.pk}.png"):
        return redirect(static(f"styles/{style.pk}.png"))
    raise Http404("No preview for this style.")


@login_not_required
@require_GET
def reference_link(request: HttpRequest, token: str) -> FileResponse:
    """An uploaded reference image for the gateway: only the file the link names, only until it expires."""
    upload = uploads.for_link(token)
    if upload is None:
        raise Http404("This link is not valid or has expired.")
    response = file_response(upload.file.name, upload.content_type)
    response["Cache-Control"] = "private, no-store"
    response["X-Robots-Tag"] = "noindex"
    return response
