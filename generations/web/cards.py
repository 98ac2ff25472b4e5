"""Drawing job set cards and their stars: the one place that fills in what a card needs.

A card shows who may cancel or retry (the person and their membership), which
images they starred and the place in the queue. Every view and page that draws
cards goes through here, so a card looks the same wherever it comes from. The
stars and queue places are always looked up here: the stars in one query (none
while no card has an image), the queue places only when a card is waiting.
"""

from __future__ import annotations

from django.db.models import prefetch_related_objects
from django.http import HttpRequest, HttpResponse
from django.utils.safestring import SafeString, mark_safe

from generations.models import Job, JobSet
from generations.queries import gallery as browse
from generations.queries import teams
from generations.queries.queue import places
from generations.web import card_cache, jinja


def render_cards(request: HttpRequest, job_sets: list[JobSet]) -> SafeString:
    """The cards of ``job_sets`` (style selected), newest first as given.

    Their images are read here unless fetched with ``browse.card_jobs`` (the gallery's page).
    """
    if not job_sets:
        return mark_safe("")  # noqa: S308 (an empty string)
    # Their images, in one query, unless the caller fetched them already (the gallery does,
    # choosing between the hidden images and the others).
    prefetch_related_objects(job_sets, browse.card_jobs())
    starred = browse.starred(request.user, [job for job_set in job_sets for job in job_set.card_jobs])
    context = {
        "job_sets": job_sets,
        "places": places(job_sets),
        "starred": starred,
        "user": request.user,
        "current_membership": teams.current_membership(request.user),
        # Settled cards come from the ones drawn before (generations.web.card_cache).
        "draw": card_cache.drawer(request.user.pk, starred, jinja.template("generations/card.jinja")),
    }
    return jinja.render("generations/cards.jinja", context, request)


def card_response(request: HttpRequest, job_set: JobSet) -> HttpResponse:
    return HttpResponse(render_cards(request, [job_set]))


def render_star(request: HttpRequest, job: Job, starred: set[int]) -> SafeString:
    return jinja.render("generations/star.jinja", {"job": job, "starred": starred}, request)
