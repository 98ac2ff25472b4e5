"""The Jinja2 environment for the gallery's cards (``TEMPLATES`` entry "jinja2").

A gallery page draws 24 cards, each with a dozen links and forms, and with
Django's template language drawing them was about two thirds of the page's
time. Jinja2 compiles a template to Python once and runs several times faster,
so the card alone is written in it; every other page stays in Django's
templates, and they draw cards through ``{% cards %}`` and ``{% star %}``
(see ``generations.cards``). The filters are the same functions the Django
templates use, so a value looks the same on a card and on any other page.
"""

from __future__ import annotations

from django.utils import formats, timezone
from django.utils.text import capfirst
from jinja2 import Environment, StrictUndefined

from . import paths
from .templatetags import soul


def shown(value) -> str:
    """A date and time as Django's templates show one: local time, the site's format."""
    return formats.localize(timezone.template_localtime(value)) if value else ""


def pluralize(count: int) -> str:
    return "" if count == 1 else "s"


def environment(**options) -> Environment:
    # A name a card uses but was not given is a mistake to fail on, not to draw as blank.
    options["undefined"] = StrictUndefined
    # Always escaped, whatever the settings say: cards show prompts people typed.
    options.pop("autoescape", None)
    env = Environment(autoescape=True, **options)
    env.globals["path"] = paths.path
    env.filters.update(
        aspect=soul.aspect,
        capfirst=capfirst,
        clip=soul.clip,
        duration=soul.duration,
        elapsed=soul.elapsed,
        ordinal=soul.ordinal,
        pluralize=pluralize,
        shown=shown,
    )
    return env
