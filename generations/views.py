"""Pages and htmx fragments. Every view needs a login (LoginRequiredMiddleware)."""

from __future__ import annotations

import mimetypes

from django.contrib import messages
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from . import selectors, services
from .forms import GenerateForm
from .models import JobSet

SPEND_CHANGED = "spend-changed"


def _cards_context(user, job_sets: list[JobSet]) -> dict:
    return {"job_sets": job_sets, "positions": selectors.queue_positions(job_sets)}


@require_GET
def gallery(request: HttpRequest) -> HttpResponse:
    before = request.GET.get("before")
    job_sets = selectors.gallery_page(
        request.user, before=int(before) if before and before.isdigit() else None
    )
    context = _cards_context(request.user, job_sets)
    context["more_before"] = job_sets[-1].id if len(job_sets) == selectors.GALLERY_PAGE_SIZE else None
    if request.htmx and before:
        return render(request, "generations/gallery.html#more", context)
    context["form"] = GenerateForm()
    return render(request, "generations/gallery.html", context)


@require_POST
def generate(request: HttpRequest) -> HttpResponse:
    form = GenerateForm(request.POST)
    if not form.is_valid():
        if request.htmx:
            return render(request, "generations/gallery.html#generate-form", {"form": form}, status=422)
        return render(request, "generations/gallery.html", {"form": form, "job_sets": []}, status=422)
    job_set = services.create_job_set(request.user, form.job_set_fields())
    if not request.htmx:
        messages.success(request, "Sent to the queue.")
        return redirect("gallery")
    context = {"form": GenerateForm(initial=_keep_choices(form)), "job_set": job_set, "new_card": True}
    context["positions"] = selectors.queue_positions([job_set])
    response = render(request, "generations/gallery.html#generate-success", context)
    response["HX-Trigger"] = SPEND_CHANGED
    return response


def _keep_choices(form: GenerateForm) -> dict:
    """After a submit the form keeps its options but clears the prompt and seed."""
    data = dict(form.cleaned_data)
    data.pop("prompt", None)
    data.pop("seed", None)
    return data


@require_GET
def card(request: HttpRequest, pk: int) -> HttpResponse:
    job_set = get_object_or_404(
        selectors.visible_job_sets(request.user).select_related("style").prefetch_related("jobs"), pk=pk
    )
    context = {"job_set": job_set, "positions": selectors.queue_positions([job_set])}
    response = render(request, "generations/partials/card.html", context)
    if not job_set.is_pending:
        response["HX-Trigger"] = SPEND_CHANGED
    return response


def _own_job_set(request: HttpRequest, pk: int) -> JobSet:
    return get_object_or_404(selectors.visible_job_sets(request.user), pk=pk)


def _card_response(request: HttpRequest, job_set: JobSet) -> HttpResponse:
    job_set = (
        selectors.visible_job_sets(request.user)
        .select_related("style")
        .prefetch_related("jobs")
        .get(pk=job_set.pk)
    )
    response = render(
        request,
        "generations/partials/card.html",
        {"job_set": job_set, "positions": selectors.queue_positions([job_set])},
    )
    response["HX-Trigger"] = SPEND_CHANGED
    return response


@require_POST
def cancel(request: HttpRequest, pk: int) -> HttpResponse:
    job_set = _own_job_set(request, pk)
    if not services.cancel_waiting(job_set):
        messages.error(request, "It had already been sent, so it can no longer be canceled.")
    if request.htmx:
        return _card_response(request, job_set)
    return redirect("gallery")


@require_POST
def submit_again(request: HttpRequest, pk: int) -> HttpResponse:
    original = _own_job_set(request, pk)
    job_set = services.submit_again(original, request.user)
    if not request.htmx:
        return redirect("gallery")
    context = {"job_set": job_set, "positions": selectors.queue_positions([job_set])}
    response = render(request, "generations/gallery.html#new-card", context)
    response["HX-Trigger"] = SPEND_CHANGED
    return response


@require_POST
def retry_download(request: HttpRequest, pk: int) -> HttpResponse:
    job_set = _own_job_set(request, pk)
    services.retry_downloads(job_set)
    if request.htmx:
        return _card_response(request, job_set)
    return redirect("gallery")


@require_GET
def spend_chip(request: HttpRequest) -> HttpResponse:
    return render(
        request, "generations/partials/spend_chip.html", {"spend": selectors.spend_total(request.user)}
    )


@require_GET
def image(request: HttpRequest, pk: int, kind: str) -> FileResponse:
    """A stored result, only to someone who may see its job set."""
    job = get_object_or_404(selectors.visible_jobs(request.user), pk=pk)
    field = job.image if kind == "raw" else (job.preview or job.image)
    if not field:
        raise Http404("This image has not been downloaded.")
    try:
        stream = default_storage.open(field.name, "rb")
    except FileNotFoundError as exc:
        raise Http404("The file is missing from storage.") from exc
    content_type = mimetypes.guess_type(field.name)[0] or "application/octet-stream"
    response = FileResponse(stream, content_type=content_type)
    if request.GET.get("download"):
        extension = field.name.rsplit(".", 1)[-1]
        filename = f"soulsite-{job.job_set_id}-{job.index + 1}-{kind}.{extension}"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
    # Results never change once stored; private so shared caches keep none.
    response["Cache-Control"] = "private, max-age=31536000, immutable"
    return response
