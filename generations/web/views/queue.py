"""The queue's controls: stop waiting, let go, clear mine, pause and resume the team's queue.

Each checks its rule in queries.access (refused: 404, as for something not there, and nothing
changed), calls one action in actions.queue, and goes back where it came from: the card for a
card's button (htmx), else the page named in ``next`` (the queue page), with a message.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from generations.actions import queue as queue_actions
from generations.models import JobSet
from generations.queries import access, teams
from generations.web import cards, parsing
from generations.web.htmx import spend_changed


def _job_set(request: HttpRequest, pk: int, rule) -> JobSet:
    job_set = get_object_or_404(access.visible_job_sets(request.user), pk=pk)
    if not rule(request.user, job_set):
        raise Http404("Only its owner or a team manager may do that.")
    return job_set


def _back(request: HttpRequest, job_set: JobSet | None = None) -> HttpResponse:
    if request.htmx and job_set is not None and request.POST.get("from") == "card":
        job_set = access.visible_job_sets(request.user).select_related("style").get(pk=job_set.pk)
        return spend_changed(cards.card_response(request, job_set))
    return redirect(parsing.next_url(request, request.POST.get("next"), default=reverse("queue")))


@require_POST
def stop_waiting(request: HttpRequest, pk: int) -> HttpResponse:
    job_set = _job_set(request, pk, access.may_stop_waiting)
    if queue_actions.stop_waiting(job_set, request.user):
        messages.success(
            request, "Stopped waiting for it: its place went to the next one. Its images will still appear."
        )
    else:
        messages.error(request, "It is no longer with the gateway, or was already given up.")
    return _back(request, job_set)


@require_POST
def let_go(request: HttpRequest, pk: int) -> HttpResponse:
    job_set = _job_set(request, pk, access.may_let_go)
    if queue_actions.let_go(job_set, request.user):
        messages.success(request, f"Let go of {job_set.user.get_username()}’s job set.")
    else:
        messages.error(request, "It had already finished or been let go.")
    return _back(request, job_set)


@require_POST
def clear_mine(request: HttpRequest) -> HttpResponse:
    membership = teams.current_membership(request.user)
    if not access.may_clear_mine(request.user, membership):
        raise Http404("You are not in a team.")
    count = queue_actions.clear_mine(request.user, membership.team)
    noun = "job set" if count == 1 else "job sets"
    messages.success(request, f"Canceled {count} waiting {noun} of yours. Nothing was charged.")
    return _back(request)


def _team_to_run(request: HttpRequest):
    membership = teams.current_membership(request.user)
    if membership is None or not access.may_pause_queue(request.user, membership.team_id, membership):
        raise Http404("Only the team's managers may do that.")
    return membership.team


@require_POST
def pause(request: HttpRequest) -> HttpResponse:
    if queue_actions.pause(_team_to_run(request), request.user):
        messages.success(request, "The team's queue is paused: what waits stays waiting until you resume it.")
    return _back(request)


@require_POST
def resume(request: HttpRequest) -> HttpResponse:
    if queue_actions.resume(_team_to_run(request), request.user):
        messages.success(request, "The team's queue is running again.")
    return _back(request)
