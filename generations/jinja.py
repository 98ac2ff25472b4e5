"""The Jinja2 environment for the two parts of the gallery page drawn most (``TEMPLATES`` "jinja2").

A gallery page draws 24 cards, each with a dozen links and three forms, and the
generate form with its size, style and option pickers. In Django's template
language those two took about 60% of the page's time; Jinja2 compiles a template
to Python once and draws the same markup several times faster. So the card and
the generate form are Jinja2 templates (templates/jinja2/), and every other page
stays in Django's: they draw these through ``{% cards %}``, ``{% star %}`` and
``{% generate_form %}`` (see ``generations.cards`` and ``generations.views.gallery``).
The filters are the functions the Django templates use, so a value looks the same
everywhere.
"""

from __future__ import annotations

from django.template import defaultfilters
from django.utils import formats, timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import capfirst
from jinja2 import Environment, StrictUndefined

from . import paths
from .templatetags import soul


def shown(value) -> str:
    """A date and time as Django's templates show one: local time, the site's format."""
    return formats.localize(timezone.template_localtime(value)) if value else ""


def date(value, format_string: str) -> str:
    """Django's ``date`` filter, in local time as Django's templates apply it."""
    return defaultfilters.date(timezone.template_localtime(value), format_string)


def pluralize(count: int) -> str:
    return "" if count == 1 else "s"


def environment(**options) -> Environment:
    # A name a card uses but was not given is a mistake to fail on, not to draw as blank.
    options["undefined"] = StrictUndefined
    # Always escaped, whatever the settings say: cards show prompts people typed.
    options.pop("autoescape", None)
    env = Environment(autoescape=True, **options)
    env.globals.update(path=paths.path, radio_tag=soul.radio_tag)
    env.filters.update(
        aspect=soul.aspect,
        capfirst=capfirst,
        clip=soul.clip,
        date=date,
        duration=soul.duration,
        elapsed=soul.elapsed,
        ordinal=soul.ordinal,
        pluralize=pluralize,
        shown=shown,
        size_pixels=soul.size_pixels,
        size_ratio=soul.size_ratio,
    )
    return env


def render(name: str, context: dict, request) -> SafeString:
    """A Jinja2 template's markup, to be placed in a Django template or a response."""
    from django.template import engines

    return mark_safe(engines["jinja2"].get_template(name).render(context, request))  # noqa: S308 (autoescaped)
