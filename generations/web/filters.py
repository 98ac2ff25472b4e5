"""Filters both kinds of template use: Django's (``{% load soul %}``) and the Jinja2 cards.

Defined once here, so a value looks the same on every page; generations.web.templatetags.soul
registers them for Django's templates and generations.web.jinja for the Jinja2 ones.
"""

from __future__ import annotations

from django.utils import timezone

from soulwire import params


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


def duration(job_set) -> str:
    """How long a finished job set took, from send to finish."""
    if not job_set.sent_at or not job_set.finished_at:
        return ""
    seconds = (job_set.finished_at - job_set.sent_at).total_seconds()
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def aspect(width_and_height: str) -> str:
    """CSS aspect-ratio for a size like '1536x2048'."""
    width, height = params.parse_size(width_and_height)
    return f"{width} / {height}"


def prompt(text: str) -> str:
    """A prompt as a page shows it in full: at most the length a prompt may have now. Job sets
    stored before the limit may hold a megabyte of text; no page prints more than this of it."""
    text = str(text)
    limit = params.PROMPT_MAX_LENGTH
    return text if len(text) <= limit else text[: limit - 1] + "…"


def ordinal(number: int) -> str:
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"
