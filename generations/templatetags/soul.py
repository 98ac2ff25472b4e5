from django import template
from django.utils import timezone
from django.utils.html import format_html, format_html_join

# Modules, not names: generations.jinja uses this module's filters, so the imports go both ways.
from .. import cards, jinja, paths
from ..sizes import size_parts
from ..soul import params

register = template.Library()


@register.filter
def elapsed(start) -> str:
    """'8 s', '2 min 05 s', '1 h 03 min' since ``start``."""
    if not start:
        return ""
    seconds = max(0, int((timezone.now() - start).total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


@register.filter
def duration(job_set) -> str:
    """How long a finished job set took, from send to finish."""
    if not job_set.sent_at or not job_set.finished_at:
        return ""
    seconds = (job_set.finished_at - job_set.sent_at).total_seconds()
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


@register.filter
def aspect(width_and_height: str) -> str:
    """CSS aspect-ratio for a size like '1536x2048'."""
    width, height = params.parse_size(width_and_height)
    return f"{width} / {height}"


@register.filter
def ordinal(number: int) -> str:
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if mapping else None


@register.filter
def size_ratio(width_and_height: str) -> str:
    """'3:4 portrait' for '1536x2048'."""
    return " ".join(size_parts(width_and_height))


@register.filter
def size_pixels(width_and_height: str) -> str:
    return width_and_height.replace("x", "×")


@register.simple_tag
def path(name: str, *args) -> str:
    """``{% url %}`` for the links of the pages drawn most often (see generations.paths)."""
    return paths.path(name, *args)


@register.filter
def clip(text: str, length: int) -> str:
    """``truncatechars`` for plain one-line text, without its per-character scan."""
    text = str(text)
    return text if len(text) <= length else text[: length - 1] + "…"


@register.simple_tag
def radio_tag(radio) -> str:
    """What ``{{ radio.tag }}`` renders, without a widget template per option.

    The generate form has dozens of radio options (sizes, styles, quality,
    batch), and rendering each through Django's widget templates took a fifth
    of the gallery page's time. The markup is the same (tested).
    """
    data = radio.data
    return format_html(
        '<input type="{}" name="{}"{}{}>',
        data["type"],
        data["name"],
        format_html(' value="{}"', data["value"]) if data["value"] is not None else "",
        _attributes(data["attrs"]),
    )


def _attributes(attrs: dict) -> str:
    # As django/forms/widgets/attrs.html: False leaves the attribute out, True writes its name alone.
    return format_html_join(
        "",
        " {}{}",
        (
            (name, "" if value is True else format_html('="{}"', value))
            for name, value in attrs.items()
            if value is not False
        ),
    )


@register.simple_tag(takes_context=True, name="cards")
def cards_tag(context, job_sets) -> str:
    """The cards of ``job_sets``, drawn by the Jinja2 card (see generations.cards)."""
    return cards.render_cards(
        context["request"], job_sets, positions=context.get("positions"), starred=context.get("starred")
    )


@register.simple_tag(takes_context=True)
def star(context, job) -> str:
    """One image's star button, as on its card."""
    return cards.render_star(context["request"], job, context.get("starred") or set())


@register.simple_tag(takes_context=True)
def generate_form(context) -> str:
    """The generate form, drawn by its Jinja2 template with this page's form, price and budget."""
    names = ("form", "cost", "budget", "over", "duplicates")
    return jinja.render(
        "generations/generate_form.jinja", {name: context.get(name) for name in names}, context["request"]
    )
