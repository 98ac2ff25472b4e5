"""What the server tells the page through htmx's response headers."""

from __future__ import annotations

from django.http import HttpResponse
from django_htmx.http import trigger_client_event

# The header's spend chip listens for this event and fetches itself again
# (templates/generations/partials/spend_chip.html).
SPEND_CHANGED = "spend-changed"


def spend_changed(response: HttpResponse) -> HttpResponse:
    """Tell the page that spend changed (a job set was sent, settled or submitted again).

    django-htmx writes the header as JSON ({"spend-changed": {}}), which htmx reads like a plain
    name and which merges with any other event the same response triggers.
    """
    return trigger_client_event(response, SPEND_CHANGED)
