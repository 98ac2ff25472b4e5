"""One refresh per tab: every pending card, the queue and the spend chip in a single answer.

A page used to poll each waiting card on its own every 2 s (30 waiting job sets: 15 requests a
second). Now static/js/refresh.js asks here once every 2 s while anything on the page is pending,
naming the cards it shows as pending (``card=<id>``, repeated; an exploration's group card
``exploration=<id>``) and, on the queue page, ``queue=1``.
The answer is plain markup: the cards drawn as the gallery draws them, the queue's list as the
queue page draws it, and the header's chip when spend may have changed; the page picks each one by
its id and swaps it in place (htmx's out-of-band swap, ``htmx.swap`` with ``selectOOB``). A card
that is no longer pending comes back in its final state, without ``data-refresh-card``, so the
page stops asking for it; when nothing is pending the page stops asking at all.
"""

from __future__ import annotations

from django.core.exceptions import BadRequest
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import require_GET

from generations.queries import access
from generations.web import cards, parsing
from generations.web.views import explore, gallery, keeping

# More pending cards than a person could have on one page with every older page opened; a longer
# list is not the page's own and is refused, so one request never reads thousands of rows. An
# exploration's group card costs a few queries of its own, so fewer of those.
MAX_CARDS = 500
MAX_EXPLORATIONS = 50


def asked_ids(values: list[str], most: int) -> list[int]:
    """The ids the page named, without repeats; a bad id or too many is a 400 (a page never sends one)."""
    if len(values) > most:
        raise BadRequest(f"At most {most} at once.")
    if any(parsing.id_from(value) is None for value in values):
        raise BadRequest("Not an id.")
    return parsing.ids_from(values)


def asked_queue(value: str | None) -> bool:
    if value not in (None, "1"):
        raise BadRequest("queue is 1 or absent.")
    return value == "1"


# Compressed: 30 pending cards are about 60 KB of markup every 2 s, and repeat themselves. Django's
# gzip adds random bytes to each answer (against BREACH), and its CSRF tokens are masked anew each time.
@gzip_page
@never_cache
@require_GET
def refresh(request: HttpRequest) -> HttpResponse:
    ids = asked_ids(request.GET.getlist("card"), MAX_CARDS)
    exploration_ids = asked_ids(request.GET.getlist("exploration"), MAX_EXPLORATIONS)
    on_queue = asked_queue(request.GET.get("queue"))
    # Only what this person may see: another team's id is left out, exactly as one that never existed.
    job_sets = list(
        access.visible_job_sets(request.user)
        .filter(pk__in=ids)
        .select_related("style", "user", "slot_freed_by")
        .order_by("-id")
    )
    groups = [card for card in (_exploration_card(request, pk) for pk in exploration_ids) if card]
    if not job_sets and not groups and not on_queue:
        return HttpResponse(status=204)  # nothing to say: the page has nothing pending of its own
    parts = [cards.render_cards(request, job_sets), *groups]
    if on_queue:
        parts.append(_queue_body(request))
    # A card that stopped being pending was settled (charged or released), which changes spend;
    # so may anything the queue shows, or an exploration's grid. The chip is small.
    if on_queue or groups or any(not job_set.is_pending for job_set in job_sets):
        parts.append(gallery.spend_chip(request).content.decode())  # as the chip draws itself
    return HttpResponse("".join(parts))


def _exploration_card(request: HttpRequest, pk: int) -> str:
    """An exploration's group card, drawn by its own view (generations/web/views/explore.py)."""
    try:
        return explore.card(request, pk).content.decode()
    except Http404:
        return ""  # another team's, or gone: left out, as a job set's card is


def _queue_body(request: HttpRequest) -> str:
    """The queue page's list (``#queue-body``), drawn by the queue page's own view and template.

    The queue view answers an htmx request that is not boosted with the list alone; refresh.js
    sends ``HX-Request`` as htmx does; asked without it, the queue view would draw the whole page
    (header and chip included), so that is a 400.
    """
    if not request.htmx:
        raise BadRequest("The queue's list is asked for by the page's refresh (HX-Request).")
    return keeping.queue(request).content.decode()
