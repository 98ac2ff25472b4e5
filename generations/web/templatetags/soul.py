"""``{% load soul %}``: the shared filters, fast links, and the parts Jinja2 draws (cards, star, form)."""

from django import template

from generations.queries import access
from generations.web import cards, filters, jinja, paths

register = template.Library()

register.filter("elapsed", filters.elapsed)
register.filter("duration", filters.duration)
register.filter("aspect", filters.aspect)
register.filter("ordinal", filters.ordinal)
register.filter("prompt", filters.prompt)


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if mapping else None


@register.simple_tag(takes_context=True, name="may_manage")
def may_manage_tag(context, job_set) -> bool:
    """``{% may_manage job_set as may_cancel %}``: the rule in queries.access, as the cards use it."""
    return access.may_manage(context["user"], job_set, context.get("current_membership"))


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
    names = ("form", "cost", "budget", "over", "duplicates", "estimate")
    return jinja.render(
        "generations/generate_form.jinja", {name: context.get(name) for name in names}, context["request"]
    )
