"""Keeping and sorting: stars, collections, hiding with undo, bulk actions, lightbox, compare, queue."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import BadRequest
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from generations.actions import hiding, keeping
from generations.models import Collection, JobSet
from generations.queries import access, teams
from generations.queries import gallery as browse
from generations.queries import queue as local_queue
from generations.web import cards, exports, parsing, query_forms

MAX_ZIP_IMAGES = 500
BESIDE_COLLECTION = "beside-field bulk-collection"


def _jobs(request: HttpRequest):
    return access.visible_jobs(request.user).select_related("job_set")


@require_POST
def star(request: HttpRequest, pk: int) -> HttpResponse:
    """Toggle the star on one image."""
    job = get_object_or_404(_jobs(request), pk=pk)
    starred = keeping.toggle_star(request.user, job)
    if request.htmx:
        return HttpResponse(cards.render_star(request, job, {job.pk} if starred else set()))
    return redirect(parsing.next_url(request, request.META.get("HTTP_REFERER"), default=reverse("gallery")))


def _back(request: HttpRequest) -> str:
    return parsing.next_url(request, request.POST.get("next"))


def _chosen(request: HttpRequest):
    """The images a bulk action is for: the ticked ones, or every one matching the view's filters."""
    membership = teams.current_membership(request.user)
    team = membership.team if membership else None
    if request.POST.get("all_matching") == "1":
        filters, form = query_forms.gallery_filters(team, QueryDict(request.POST.get("filters", "")))
        if form.errors:
            # The page writes this field from filters it parsed: acting on fewer filters than
            # were shown would touch images nobody chose.
            raise BadRequest("The filters of this view did not parse.")
        return browse.matching_jobs(request.user, filters).select_related("job_set")
    return _jobs(request).filter(pk__in=parsing.ids_from(request.POST.getlist("job")))


@require_POST
def bulk(request: HttpRequest) -> HttpResponse:
    action = request.POST.get("action", "")
    jobs = _chosen(request)
    count = jobs.count()
    if not count:
        messages.error(request, "Choose at least one image first.")
        return redirect(_back(request))
    if action == "zip":
        return _zip(request, jobs, count)
    if action == "star":
        keeping.star(request.user, jobs)
        messages.success(request, f"Starred {count} image{'s' if count != 1 else ''}.")
    elif action == "unstar":
        keeping.unstar(request.user, jobs)
        messages.success(request, f"Removed the star from {count} image{'s' if count != 1 else ''}.")
    elif action == "file":
        collection = _collection_for(request)
        if collection is None:
            return redirect(_back(request))
        keeping.file_in(collection, jobs, request.user)
        messages.success(request, f"Filed {count} image{'s' if count != 1 else ''} in “{collection.name}”.")
    elif action == "hide":
        request.session["undo_hide"] = hiding.hide(jobs, request.user)
        messages.success(request, f"Hid {count} image{'s' if count != 1 else ''}.", extra_tags="undo-hide")
    elif action == "unhide":
        hiding.unhide(jobs)
        messages.success(request, f"{count} image{'s' if count != 1 else ''} back in the gallery.")
    else:
        raise Http404("Unknown action.")
    return redirect(_back(request))


@require_POST
def undo_hide(request: HttpRequest) -> HttpResponse:
    ids = request.session.pop("undo_hide", [])
    restored = hiding.unhide(_jobs(request).filter(pk__in=ids))
    messages.success(request, f"Undone: {restored} image{'s' if restored != 1 else ''} back in the gallery.")
    return redirect(_back(request))


def _collection_for(request: HttpRequest) -> Collection | None:
    team = teams.current_team(request.user)
    if team is None:  # collections belong to a team (docs/PERMISSIONS.md)
        messages.error(request, "You are not in a team yet: ask a manager to add you.")
        return None
    name = request.POST.get("new_collection", "").strip()
    if name:
        return keeping.collection_named(team, request.user, name, shared=request.POST.get("shared") == "1")
    chosen = parsing.id_from(request.POST.get("collection"))
    collection = browse.visible_collection(request.user, team, chosen) if chosen else None
    if collection is None:
        # Drawn beside the collection picker of the bulk bar (templates/generations/gallery.html).
        messages.error(request, "Choose a collection, or name a new one.", extra_tags=BESIDE_COLLECTION)
    return collection


def _zip(request: HttpRequest, jobs, count: int) -> HttpResponse:
    if count > MAX_ZIP_IMAGES:
        messages.error(
            request, f"{count} images is more than one zip takes ({MAX_ZIP_IMAGES}); narrow the filter."
        )
        return redirect(_back(request))
    chosen = list(
        jobs.select_related(
            "job_set__style", "job_set__user", "job_set__team", "job_set__character"
        ).order_by("job_set_id", "index")
    )
    archive, stored = exports.build_zip(chosen)
    keeping.mark_kept(job.pk for job in chosen)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return FileResponse(
        archive,
        as_attachment=True,
        filename=f"soulsite-{stamp}-{stored}-images.zip",
        content_type="application/zip",
    )


@require_GET
def lightbox(request: HttpRequest, pk: int) -> HttpResponse:
    """One image, full size, with every parameter of its job set (opened in a dialog)."""
    job = get_object_or_404(
        _jobs(request).select_related(
            "job_set__style", "job_set__user", "job_set__team", "job_set__character"
        ),
        pk=pk,
    )
    context = {
        "job": job,
        "job_set": job.job_set,
        "starred": browse.starred(request.user, [job]),
        "collections": browse.collection_names(job),
    }
    return render(request, "generations/partials/lightbox.html", context)


@require_GET
def compare(request: HttpRequest) -> HttpResponse:
    ids = parsing.ids_from(request.GET.getlist("job"), limit=2)
    jobs = list(_jobs(request).select_related("job_set__style", "job_set__character").filter(pk__in=ids))
    if len(jobs) != 2:
        raise Http404("Choose two images to compare.")
    jobs.sort(key=lambda job: ids.index(job.pk))
    left, right = jobs[0].job_set, jobs[1].job_set
    rows = []
    for name in JobSet.PARAMETER_FIELDS:
        a, b = getattr(left, name), getattr(right, name)
        rows.append({"name": name, "left": a, "right": b, "differs": a != b})
    rows.append(
        {
            "name": "seed used",
            "left": left.input_params.get("seed"),
            "right": right.input_params.get("seed"),
            "differs": left.input_params.get("seed") != right.input_params.get("seed"),
        }
    )
    return render(request, "generations/compare.html", {"jobs": jobs, "rows": rows})


@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    """What waits here (with place in line), what is in flight (with an estimate), what failed lately."""
    membership = teams.current_membership(request.user)
    team = membership.team if membership else None
    line = local_queue.queue(request.user, team)
    context = {
        "team": team,
        "runs_team": team is not None and access.may_pause_queue(request.user, team.pk, membership),
        "mine_waiting": sum(job_set.user_id == request.user.pk for job_set in line.waiting),
        "waiting": line.waiting,
        "places": line.places,
        "flying": line.flying,
        "failed": line.failed,
        "pending": line.pending,
    }
    # The 3-second refresh asks for the list alone; a boosted button's answer is the whole page
    # (with its message saying what was done).
    partial = request.htmx and not request.htmx.boosted
    template = "generations/queue.html#queue-body" if partial else "generations/queue.html"
    return render(request, template, context)
