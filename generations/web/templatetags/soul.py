from django import template
from django.utils import timezone

# Modules, not names: generations.web.jinja uses this module's filters, so the imports go both ways.
from generations.web import cards, jinja, paths
from soulwire import params

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


@register.simple_tag
def path(name: str, *args) -> str:
    """``{% url %}`` for the links of the pages drawn most often (see generations.web.paths)."""
    return paths.path(name, *args)


@register.simple_tag(takes_context=True, name="cards")
def cards_tag(context, job_sets) -> str:
    """The cards of ``job_sets``, drawn by the Jinja2 card (see generations.web.cards)."""
    return cards.render_cards(context["request"], job_sets)


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
