"""The Jinja2 environment for the two parts of the gallery page drawn most (``TEMPLATES`` "jinja2").

A gallery page draws 24 cards, each with a dozen links and three forms, and the
generate form with its size, style and option pickers. In Django's template
language those two took about 60% of the page's time; Jinja2 compiles a template
to Python once and draws the same markup several times faster. So the card and
the generate form are Jinja2 templates (templates/jinja2/), and every other page
stays in Django's: they draw these through ``{% cards %}``, ``{% star %}`` and
``{% generate_form %}`` (see ``generations.web.cards`` and ``generations.web.views.gallery``).
Filters both kinds of template use (``aspect``, ``elapsed``...) are in
generations.web.filters, so a value looks the same everywhere; the ones only the
Jinja2 templates use are defined here. Cards and template tags render through
this module, and it imports neither of them.
"""

from __future__ import annotations

from django.template import defaultfilters, engines
from django.utils import formats, timezone
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import capfirst
from jinja2 import Environment, StrictUndefined

from generations.queries import access
from generations.web import filters, paths
from generations.web.sizes import size_parts


def shown(value) -> str:
    """A date and time as Django's templates show one: local time, the site's format."""
    return formats.localize(timezone.template_localtime(value)) if value else ""


def date(value, format_string: str) -> str:
    """Django's ``date`` filter, in local time as Django's templates apply it."""
    return defaultfilters.date(timezone.template_localtime(value), format_string)


def pluralize(count: int) -> str:
    return "" if count == 1 else "s"


def size_ratio(width_and_height: str) -> str:
    """'3:4 portrait' for '1536x2048'."""
    return " ".join(size_parts(width_and_height))


def size_pixels(width_and_height: str) -> str:
    return width_and_height.replace("x", "×")


def clip(text: str, length: int) -> str:
    """``truncatechars`` for plain one-line text, without its per-character scan."""
    text = str(text)
    return text if len(text) <= length else text[: length - 1] + "…"


def radio_tag(radio) -> str:
    """What ``{{ radio.tag }}`` renders, without a widget template per option.

    The generate form has dozens of radio options (sizes, styles, quality,
    batch), and rendering each through Django's widget templates took a fifth
    of the gallery page's time; ``format_html`` still took 24 µs an option, plain
    formatting with the same escaping (``conditional_escape``) takes 10. The markup
    is the same (tested).
    """
    data = radio.data
    value = "" if data["value"] is None else f' value="{conditional_escape(data["value"])}"'
    tag = f'<input type="{conditional_escape(data["type"])}" name="{conditional_escape(data["name"])}"'
    return mark_safe(f"{tag}{value}{_attributes(data['attrs'])}>")  # noqa: S308 (every part escaped)


def _attributes(attrs: dict) -> str:
    # As django/forms/widgets/attrs.html: False leaves the attribute out, True writes its name alone.
    return "".join(
        f" {conditional_escape(name)}" + ("" if value is True else f'="{conditional_escape(value)}"')
        for name, value in attrs.items()
        if value is not False
    )


def environment(**options) -> Environment:
    # A name a card uses but was not given is a mistake to fail on, not to draw as blank.
    options["undefined"] = StrictUndefined
    # Always escaped, whatever the settings say: cards show prompts people typed.
    options.pop("autoescape", None)
    env = Environment(autoescape=True, **options)
    # may_manage: the one rule for who may cancel a job set or retry its downloads (queries.access).
    env.globals.update(path=paths.path, radio_tag=radio_tag, may_manage=access.may_manage)
    env.filters.update(
        aspect=filters.aspect,
        capfirst=capfirst,
        clip=clip,
        date=date,
        duration=filters.duration,
        elapsed=filters.elapsed,
        ordinal=filters.ordinal,
        prompt=filters.prompt,
        pluralize=pluralize,
        shown=shown,
        size_pixels=size_pixels,
        size_ratio=size_ratio,
    )
    return env


def template(name: str):
    """The compiled Jinja2 template ``name`` (the same object until it is reloaded)."""
    return engines["jinja2"].env.get_template(name)


def render(name: str, context: dict, request) -> SafeString:
    """A Jinja2 template's markup, to be placed in a Django template or a response."""
    # The templates' own calls of path() (not those in imported macros) skip the prefix lookup.
    context = {**context, "path": paths.under_current_prefix()}
    return mark_safe(engines["jinja2"].get_template(name).render(context, request))  # noqa: S308 (autoescaped)
