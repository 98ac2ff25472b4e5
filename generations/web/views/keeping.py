"""Keeping and sorting: stars, collections, hiding with undo, bulk actions, lightbox, compare, queue."""

from __future__ import annotations

from django.contrib import messages
from django.db import IntegrityError, transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from generations import browse, exports, hiding, selectors, spend_days, teams, tracking
from generations.models import Collection, CollectionItem, Favourite, Job, JobSet
from generations.web import cards

MAX_ZIP_IMAGES = 500


def _jobs(request: HttpRequest):
    return selectors.visible_jobs(request.user).select_related("job_set")


@require_POST
def star(request: HttpRequest, pk: int) -> HttpResponse:
    """Toggle the star on one image."""
    job = get_object_or_404(_jobs(request), pk=pk)
    with transaction.atomic():
        removed, _ = Favourite.objects.filter(user=request.user, job=job).delete()
        if not removed:
            Favourite.objects.get_or_create(user=request.user, job=job)
        spend_days.refresh(job.job_set)  # the spend page counts kept (starred) images
    if request.htmx:
        return HttpResponse(cards.render_star(request, job, set() if removed else {job.pk}))
    return redirect(request.META.get("HTTP_REFERER") or "gallery")


def _back(request: HttpRequest) -> str:
    target = request.POST.get("next") or "/"
    return target if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}) else "/"


def _chosen(request: HttpRequest):
    """The images a bulk action is for: the ticked ones, or every one matching the view's filters."""
    membership = teams.current_membership(request.user)
    team = membership.team if membership else None
    if request.POST.get("all_matching") == "1":
        from django.http import QueryDict

        filters = browse.parse(request.user, team, QueryDict(request.POST.get("filters", "")))
        return browse.matching_jobs(request.user, filters).select_related("job_set")
    ids = [int(value) for value in request.POST.getlist("job") if value.isdigit()]
    return _jobs(request).filter(pk__in=ids)


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
        with transaction.atomic():
            Favourite.objects.bulk_create(
                [Favourite(user=request.user, job=job) for job in jobs], ignore_conflicts=True
            )
            spend_days.refresh_for_jobs(jobs)
        messages.success(request, f"Starred {count} image{'s' if count != 1 else ''}.")
    elif action == "unstar":
        with transaction.atomic():
            Favourite.objects.filter(user=request.user, job__in=jobs).delete()
            spend_days.refresh_for_jobs(jobs)
        messages.success(request, f"Removed the star from {count} image{'s' if count != 1 else ''}.")
    elif action == "file":
        collection = _collection_for(request)
        if collection is None:
            return redirect(_back(request))
        CollectionItem.objects.bulk_create(
            [CollectionItem(collection=collection, job=job, added_by=request.user) for job in jobs],
            ignore_conflicts=True,
        )
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
    name = request.POST.get("new_collection", "").strip()
    if name:
        try:
            with transaction.atomic():
                return Collection.objects.create(
                    team=team, owner=request.user, name=name[:100], shared=request.POST.get("shared") == "1"
                )
        except IntegrityError:
            return Collection.objects.get(team=team, owner=request.user, name=name[:100])
    chosen = request.POST.get("collection", "")
    collection = (
        browse.visible_collections(request.user, team).filter(pk=chosen).first() if chosen.isdigit() else None
    )
    if collection is None:
        messages.error(request, "Choose a collection, or name a new one.")
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
    ids = [job.pk for job in chosen]
    with transaction.atomic():
        if Job.objects.filter(pk__in=ids, kept_at__isnull=True, image__gt="").update(kept_at=timezone.now()):
            spend_days.refresh_for_jobs(ids)
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
        "starred": set(Favourite.objects.filter(user=request.user, job=job).values_list("job_id", flat=True)),
        "collections": [c.name for c in Collection.objects.filter(items__job=job).distinct()],
    }
    return render(request, "generations/partials/lightbox.html", context)


@require_GET
def compare(request: HttpRequest) -> HttpResponse:
    ids = [int(value) for value in request.GET.getlist("job") if value.isdigit()][:2]
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
    team = teams.current_team(request.user)
    mine = selectors.visible_job_sets(request.user).filter(team=team).select_related("user", "style")
    waiting = list(mine.filter(status=JobSet.Status.WAITING).order_by("created_at", "id"))
    flying = list(mine.filter(status__in=JobSet.IN_FLIGHT).order_by("sent_at", "id"))
    week_ago = timezone.now() - timezone.timedelta(days=7)
    failed = list(
        mine.filter(status__in=browse.STATUS_GROUPS["failed"], created_at__gte=week_ago)
        .exclude(status=JobSet.Status.CANCELED)
        .order_by("-id")[:50]
    )
    now = timezone.now()
    for job_set in flying:
        usual = tracking.durations(job_set.quality, job_set.batch_size)
        elapsed = (now - (job_set.sent_at or job_set.created_at)).total_seconds()
        job_set.estimate = None if usual is None else max(0, int(usual.typical - elapsed))
    context = {
        "waiting": waiting,
        "positions": selectors.queue_positions(waiting),
        "flying": flying,
        "failed": failed,
        "pending": bool(waiting or flying),
    }
    template = "generations/queue.html#queue-body" if request.htmx else "generations/queue.html"
    return render(request, template, context)
