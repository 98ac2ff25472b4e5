"""An exploration's contact sheet (issue 24): its page, its gallery card, its PNG, "cancel the rest".

Star all, hide all and the zip are the gallery's bulk actions (views.keeping.bulk) on the sheet's
images: the sheet's forms post there, so they are checked and counted exactly as in the gallery.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from generations.actions import explore as exploring_actions
from generations.models import Exploration
from generations.queries import access, explorations, teams
from generations.web import jinja, sheet_png


def _visible(request: HttpRequest, pk: int) -> Exploration:
    """An exploration this person's teams can see; 404 otherwise, as if it did not exist."""
    return get_object_or_404(explorations.visible(request.user).select_related("user", "team"), pk=pk)


@require_GET
def exploration(request: HttpRequest, pk: int) -> HttpResponse:
    """The sheet's page, at a stable address to share with the team; htmx asks for the grid alone."""
    sheet = explorations.sheet(_visible(request, pk))
    membership = teams.current_membership(request.user)
    context = {
        "sheet": sheet,
        "exploration": sheet.exploration,
        "may_cancel": any(access.may_manage(request.user, js, membership) for js in sheet.job_sets),
    }
    if request.htmx and not request.htmx.boosted:
        return render(request, "generations/exploration.html#sheet", context)
    return render(request, "generations/exploration.html", context)


@require_GET
def card(request: HttpRequest, pk: int) -> HttpResponse:
    """The gallery's group card: a small live grid, asked for again while anything is pending."""
    sheet = explorations.sheet(_visible(request, pk))
    context = {"sheet": sheet, "exploration": sheet.exploration}
    return HttpResponse(jinja.render("generations/explore_card.jinja", context, request))


@require_POST
def cancel_rest(request: HttpRequest, pk: int) -> HttpResponse:
    """Cancel every combination still waiting here that this person may cancel; the sent ones go on."""
    exploration = _visible(request, pk)
    membership = teams.current_membership(request.user)
    mine = [
        job_set
        for job_set in exploration.job_sets.all()
        if access.may_manage(request.user, job_set, membership)
    ]
    if not mine:
        raise Http404("Only its owner or a team manager may do that.")
    canceled = exploring_actions.cancel_rest(mine, request.user)
    if canceled:
        messages.success(request, f"Canceled {canceled} request{'s' if canceled != 1 else ''} still waiting.")
    else:
        messages.info(request, "Nothing was waiting any more: everything had been sent.")
    return redirect("exploration", exploration.pk)


@require_GET
def sheet_image(request: HttpRequest, pk: int) -> HttpResponse:
    """The sheet as a PNG with its labels, to download."""
    sheet = explorations.sheet(_visible(request, pk))
    if len(sheet.job_sets) > sheet_png.MAX_CELLS:
        # Only a site whose SOUL_EXPLORE_LIMIT is above it makes one this large.
        messages.error(request, f"A sheet of more than {sheet_png.MAX_CELLS} cells is too large to draw.")
        return redirect("exploration", sheet.exploration.pk)
    response = HttpResponse(sheet_png.render(sheet), content_type="image/png")
    response["Content-Disposition"] = (
        f'attachment; filename="soulsite-exploration-{sheet.exploration.pk}.png"'
    )
    return response
