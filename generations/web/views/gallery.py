"""The gallery page, the generate form and the cards' htmx fragments."""

from __future__ import annotations

from dataclasses import replace

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRefresh

from generations.actions import explore as exploring_actions
from generations.actions import jobsets
from generations.actions import queue as queue_actions
from generations.models import JobSet, exploring
from generations.queries import access, explorations, teams
from generations.queries import gallery as browse
from generations.queries import queue as local_queue
from generations.queries import spend as money
from generations.upstream import references
from generations.web import cards, jinja, parsing, query_forms
from generations.web.forms import GenerateForm, initial_from
from generations.web.htmx import spend_changed
from soulwire import params

# Said after "This would go over …": what the person can do about it.
OVER_BUDGET_WHAT_TO_DO = (
    "Choose fewer images or the lower quality, or ask a team manager to raise the budget."
)


def _gallery_context(request: HttpRequest, before: int | None = None) -> dict:
    membership = teams.current_membership(request.user)
    team = membership.team if membership else None
    filters, filter_form = query_forms.gallery_filters(team, request.GET)
    job_sets = browse.page(request.user, filters, before=before)
    drawn = browse.drawn_before(request.user, filters, job_sets, before)
    # The cards look up their own stars and queue places (generations.web.cards).
    return dict(
        job_sets=[job_set for job_set in job_sets if job_set.exploration_id not in drawn],
        filters=filters,
        filter_form=filter_form,
        query=filters.query_string(),
        membership=membership,
        members=teams.member_names(team) if team else [],
        collections=list(browse.visible_collections(request.user, team)),
        # The form offers the active ones from the same read. Left unread for the older-cards
        # fragment, which shows neither.
        styles=browse.styles(),
        sizes=params.SIZES,
        qualities=params.QUALITIES,
        # The cursor follows the page as read, group cards left out or not, and so does whether
        # anything was found (a page of an exploration drawn earlier is not "nothing here").
        more_before=job_sets[-1].id if len(job_sets) == browse.PAGE_SIZE else None,
        found_any=bool(job_sets),
        # An empty gallery whose images are all hidden says so, rather than "nothing here yet".
        all_hidden=not job_sets
        and not filters.narrowed
        and browse.job_sets(request.user, replace(filters, hidden=True)).exists(),
    )


@require_GET
def gallery(request: HttpRequest) -> HttpResponse:
    before = request.GET.get("before")
    # The cursor is written by the page itself ("Show older"): a bad one is a broken link, a 400.
    context = _gallery_context(request, parsing.required_id(before) if before else None)
    if request.htmx and before:
        return render(request, "generations/gallery.html#more", context)
    context["tile_size"] = _tile_size(request)
    # A filter, a search as it is typed or a change of whose work: htmx swaps in the gallery
    # alone, so the form and the price beside it are neither built nor drawn (a third of the page).
    if request.htmx and request.htmx.target == "gallery-section" and not request.htmx.history_restore_request:
        return render(request, "generations/gallery.html#gallery-section", _with_bulk_error(request, context))
    context["form"] = _form(request, styles=context["styles"])
    # Whether an image can be the form's reference (pasted, dropped, from the viewer): an upload
    # needs an address the gateway can fetch it from.
    context["uploads_possible"] = references.uploads_possible()
    context.update(_price_context(request, {}))
    return render(request, "generations/gallery.html", _with_bulk_error(request, context))


def _with_bulk_error(request: HttpRequest, context: dict) -> dict:
    """``context`` with a bulk action's error about the collection, drawn beside the collection picker."""
    context["bulk_error"] = next(
        (str(m) for m in messages.get_messages(request) if "bulk-collection" in m.extra_tags), None
    )
    return context


# The gallery's image size, which static/js/studio.js keeps in a cookie: drawn by the server at
# that size, the page never re-lays its cards out after it first appears.
TILE_SIZES = range(120, 481, 20)
DEFAULT_TILE_SIZE = 200


def _tile_size(request: HttpRequest) -> int:
    size = parsing.id_from(request.COOKIES.get("soulsite_tile"))
    return size if size in TILE_SIZES else DEFAULT_TILE_SIZE


def _form(request: HttpRequest, *args, **kwargs) -> GenerateForm:
    return GenerateForm(*args, team=teams.current_team(request.user), **kwargs)


def _refused(request: HttpRequest, form: GenerateForm) -> HttpResponse:
    """The form again, its errors beside the fields; nothing was stored or sent."""
    context = {"form": form, **_price_context(request, request.POST)}
    if request.htmx:
        return render(request, "generations/gallery.html#generate-form", context, status=422)
    return render(request, "generations/gallery.html", {**context, **_gallery_context(request)}, status=422)


@require_POST
def generate(request: HttpRequest) -> HttpResponse:
    team = teams.current_team(request.user)
    form = _form(request, request.POST, request.FILES)
    valid = form.is_valid()
    if team is None:
        form.add_error(None, form.NO_TEAM)
        valid = False
    if not valid:
        return _refused(request, form)
    if form.plan is not None and form.plan.count > 1:
        return _explore(request, form, team)
    soul_request = form.soul_request()
    duplicates = [] if request.POST.get("confirm_duplicate") else access.same_request_done(team, soul_request)
    if duplicates:
        context = {"form": form, "duplicates": duplicates, **_price_context(request, request.POST)}
        return render(request, "generations/gallery.html#generate-form", context, status=409)
    upload = form.cleaned_data.get("image_reference_upload")
    try:
        if upload:
            job_set = jobsets.create_with_upload(
                request.user, team, soul_request, upload, form.upload_content_type
            )
        else:
            job_set = jobsets.create(request.user, team, soul_request)
    except jobsets.BudgetExceeded as exc:
        # About the whole request, so above the form; it says what to do.
        form.add_error(None, f"{exc} {OVER_BUDGET_WHAT_TO_DO}")
        return _refused(request, form)
    if not request.htmx:
        messages.success(request, "Sent to the queue.")
        return redirect("gallery")
    next_form = _form(request, initial=form.next_initial(job_set.reference_upload.key if upload else None))
    context = {"form": next_form, "new_job_sets": [job_set], **_price_context(request, request.POST)}
    return spend_changed(render(request, "generations/gallery.html#generate-success", context))


def _explore(request: HttpRequest, form: GenerateForm, team) -> HttpResponse:
    """Send every combination of the form as job sets of their own, all or none (issue 24)."""
    try:
        exploration = exploring_actions.create(request.user, team, form.plan, form.cleaned_data["prompt"])
    except exploring_actions.OverBudget as exc:
        form.add_error(None, f"{exc} {OVER_BUDGET_WHAT_TO_DO}")
        return _refused(request, form)
    if not request.htmx:
        messages.success(request, f"Sent {exploration.count} requests to the queue.")
        return redirect("exploration", exploration.pk)
    next_form = _form(request, initial=form.next_initial())
    context = {
        "form": next_form,
        "new_job_sets": explorations.leading(exploration),
        **_price_context(request, request.POST),
    }
    return spend_changed(render(request, "generations/gallery.html#generate-success", context))


@require_GET
def reuse(request: HttpRequest, pk: int) -> HttpResponse:
    """The generate form filled with a job set's settings, not submitted."""
    job_set = _visible_job_set(request, pk)
    initial = initial_from(job_set, keep_seed=request.GET.get("seed") == "keep")
    form = _form(request, initial=initial)
    context = {"form": form, **_price_context(request, {k: str(v) for k, v in initial.items()})}
    if request.htmx:
        return render(request, "generations/gallery.html#generate-form", context)
    return render(request, "generations/gallery.html", {**context, **_gallery_context(request)})


@require_GET
def details(request: HttpRequest, pk: int) -> HttpResponse:
    job_set = get_object_or_404(
        access.visible_job_sets(request.user)
        .select_related("style", "character", "user", "team")
        .prefetch_related("jobs"),
        pk=pk,
    )
    context = {"job_set": job_set, "people_actions": local_queue.people_actions(job_set)}
    return render(request, "generations/details.html", context)


@require_GET
def card(request: HttpRequest, pk: int) -> HttpResponse:
    job_set = get_object_or_404(access.visible_job_sets(request.user).select_related("style"), pk=pk)
    response = cards.card_response(request, job_set)
    if not job_set.is_pending:
        spend_changed(response)
    return response


def _visible_job_set(request: HttpRequest, pk: int) -> JobSet:
    return get_object_or_404(access.visible_job_sets(request.user), pk=pk)


def _managed_job_set(request: HttpRequest, pk: int) -> JobSet:
    """A job set this person may stop or change; 404 otherwise, as for one they cannot see."""
    job_set = _visible_job_set(request, pk)
    if not access.may_manage(request.user, job_set):
        raise Http404("Only its owner or a team manager may do that.")
    return job_set


def _card_response(request: HttpRequest, job_set: JobSet) -> HttpResponse:
    job_set = access.visible_job_sets(request.user).select_related("style").get(pk=job_set.pk)
    return spend_changed(cards.card_response(request, job_set))


@require_POST
def cancel(request: HttpRequest, pk: int) -> HttpResponse:
    job_set = _managed_job_set(request, pk)
    if not queue_actions.cancel(job_set, request.user):
        messages.error(request, "It had already been sent, so it can no longer be canceled.")
    # A card's button swaps the card; the queue page's (boosted) form goes back to the page.
    if request.htmx and not request.htmx.boosted:
        return _card_response(request, job_set)
    return redirect(parsing.next_url(request, request.POST.get("next"), default=reverse("gallery")))


@require_POST
def submit_again(request: HttpRequest, pk: int) -> HttpResponse:
    original = _visible_job_set(request, pk)
    # "Vary" (the viewer's button): the same request with a new seed, always a new job set.
    vary = request.POST.get("seed") == "new"
    if not vary and jobsets.is_sent_again_as_itself(original):
        # Unconfirmed: the same job set goes out again with its own key, never as a new one.
        return _send_again(request, pk)
    if teams.current_team(request.user) is None:
        raise Http404("You are not in a team.")
    try:
        again = jobsets.vary if vary else jobsets.submit_again
        job_set = again(original, request.user, teams.current_team(request.user))
    except jobsets.BudgetExceeded as exc:
        messages.error(request, f"{exc} {OVER_BUDGET_WHAT_TO_DO}")
        if request.htmx:
            return HttpResponseClientRefresh()
        return redirect("gallery")
    if not request.htmx:
        return redirect("gallery")
    return spend_changed(render(request, "generations/gallery.html#new-card", {"new_job_sets": [job_set]}))


def _send_again(request: HttpRequest, pk: int) -> HttpResponse:
    job_set = _managed_job_set(request, pk)
    if not jobsets.send_again(job_set, request.user.get_username()):
        messages.error(request, "Someone has dealt with it already; nothing was sent.")
    if request.htmx:
        return _card_response(request, job_set)
    return redirect("gallery")


@require_POST
def retry_download(request: HttpRequest, pk: int) -> HttpResponse:
    job_set = _managed_job_set(request, pk)
    jobsets.retry_downloads(job_set)
    if request.htmx:
        return _card_response(request, job_set)
    return redirect("gallery")


@require_GET
def spend_chip(request: HttpRequest) -> HttpResponse:
    # Rendered without the page's context processors: the chip needs none of them, and it is
    # fetched after every submit and completion.
    periods = money.recent_totals(request.user)
    return HttpResponse(render_to_string("generations/partials/spend_chip.html", {"spend": periods}))


@require_GET
def price(request: HttpRequest) -> HttpResponse:
    """The Generate button's price and the budget left, for the quality and batch size chosen."""
    context = _price_context(request, request.GET)
    return HttpResponse(jinja.render("generations/price.jinja", context, request))


def _price_context(request: HttpRequest, data) -> dict:
    quality = data.get("quality") if data.get("quality") in params.QUALITIES else params.DEFAULT_QUALITY
    batch = parsing.id_from(data.get("batch_size"))
    batch_size = batch if batch in params.BATCH_SIZES else params.DEFAULT_BATCH_SIZE
    team = teams.current_team(request.user)
    check = money.price_check(request.user, team, quality, batch_size)
    context = {"cost": check.cost, "budget": check.budget, "over": check.over, "estimate": None}
    estimate = _estimate(request, team, data, quality, batch_size)
    if estimate is not None:
        context.update(estimate=estimate, cost=estimate.cost, over=estimate.over)
    return context


def _values(data, name: str) -> list[str]:
    # A QueryDict (the form as sent) or a plain dict ("use these settings").
    if hasattr(data, "getlist"):
        return data.getlist(name)
    value = data.get(name)
    return list(value) if isinstance(value, list | tuple) else ([] if value in (None, "") else [str(value)])


def _estimate(
    request: HttpRequest, team, data, quality: str, batch_size: int
) -> explorations.Estimate | None:
    """The Generate button's "6 requests · $0.90" while exploring; None for a single request.

    Only counted here (the form's own checks run when it is sent): a problem the count already
    shows, such as a seed list that does not parse, is said under the button as it is typed.
    """
    qualities = [q for q in dict.fromkeys(_values(data, "explore_qualities")) if q in params.QUALITIES]
    sizes = [s for s in dict.fromkeys(_values(data, "explore_sizes")) if s in params.SIZES]
    styles = set(_values(data, "explore_styles"))
    repeat = parsing.id_from(data.get("repeat")) or 1
    limit = settings.SOUL_EXPLORE_LIMIT
    try:
        choices = exploring.Choices(
            styles=[(None, "")] * max(len(styles), 1),
            sizes=sizes or [params.DEFAULT_SIZE],
            qualities=qualities or [quality],
            seeds=exploring.seed_spans(data.get("seeds") or ""),
            repeat=repeat,
        )
        count = exploring.count(data.get("prompt") or "", choices)
    except exploring.Refused as refused:
        return explorations.Estimate.refused(refused.message)
    if count <= 1:
        return None
    if count > limit:
        return explorations.Estimate.refused(exploring.TooMany(count, limit).message, count=count)
    return explorations.estimate(request.user, team, count, choices.qualities, batch_size)
