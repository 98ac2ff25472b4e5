"""Settled cards drawn once per process and kept, by everything their markup is drawn from.

A gallery page draws 24 cards, and most are settled: finished, blocked or canceled, with no
button to press and nothing left to change but a star. A person sees the same ones again at
every search, filter, reload and "Show older", and drawing them was a fifth of the page's time.
So a settled card's markup is kept, under a key made of every value its template can read:

- the job set's columns the page loads (``queries.gallery.CARD_FIELDS``: the page loads
  no others, so the template can read no others without a query per card, which
  tests/test_gallery.py would see) and the same of each image it shows
  (``CARD_JOB_FIELDS``, with which of them the viewer starred);
- of the viewer, only whether the job set is theirs (the card then leaves out "by ...");
  a settled card draws no button that depends on a role;
- the time zone and language it is drawn in, and the compiled template itself (a template
  reloaded after an edit is another object, with a number of its own).

A key that changes is a miss, never a stale card; so nothing is ever invalidated, and the
oldest entries go first once ``SIZE`` are kept (about 2 KB each). Cards still in progress,
and those with a button (retry a download, try again), are drawn every time.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from collections.abc import Callable

from django.db.models.fields.files import FieldFile
from django.urls import get_script_prefix
from django.utils import timezone, translation
from django.utils.safestring import SafeString, mark_safe

from generations.models import JobSet
from generations.queries.gallery import CARD_FIELDS, CARD_JOB_FIELDS

SETTLED = frozenset({JobSet.Status.COMPLETED, JobSet.Status.NSFW, JobSet.Status.CANCELED})
SIZE = 2000

_kept: OrderedDict[tuple, str] = OrderedDict()
_lock = threading.Lock()
_generations = itertools.count(1)


def drawer(viewer_id: int, starred: set[int], template: object) -> Callable[[JobSet, Callable], SafeString]:
    """``draw(job_set, card)``: the kept markup of a settled ``job_set``, else ``card(job_set)``
    (the Jinja2 macro), kept when settled. For one render by one viewer."""
    zone, language = timezone.get_current_timezone_name(), translation.get_language()
    around = (_generation(template), zone, language, get_script_prefix())

    def draw(job_set: JobSet, card: Callable[[JobSet], str]) -> SafeString:
        key = _key(job_set, viewer_id, starred, around)
        if key is None:
            return card(job_set)
        with _lock:
            markup = _kept.get(key)
            if markup is not None:
                _kept.move_to_end(key)
        if markup is None:
            markup = str(card(job_set))
            with _lock:
                _kept[key] = markup
                if len(_kept) > SIZE:
                    _kept.popitem(last=False)
        return mark_safe(markup)  # noqa: S308 (drawn by the autoescaping card template)

    return draw


def _generation(template: object) -> int:
    """A number of this compiled template's own, new for each template loaded. Not ``id()``:
    once a reloaded template frees the old one, a new object may be given the same id."""
    generation = getattr(template, "_card_cache_generation", None)
    if generation is None:
        generation = next(_generations)
        template._card_cache_generation = generation  # type: ignore[attr-defined]
    return generation


def clear() -> None:
    with _lock:
        _kept.clear()


def _key(job_set: JobSet, viewer_id: int, starred: set[int], around: tuple) -> tuple | None:
    if job_set.status not in SETTLED or job_set.has_failed_download:
        return None
    jobs = tuple(
        (job.pk, job.pk in starred, *(_value(job, name) for name in CARD_JOB_FIELDS))
        for job in job_set.card_jobs
    )
    fields = tuple(_value(job_set, name) for name in CARD_FIELDS)
    return (around, job_set.pk, job_set.user_id == viewer_id, fields, jobs)


def _value(row, name: str):
    """``name`` of ``row`` as the ORM spells it (``user__username`` follows the relation)."""
    for part in name.split("__"):
        if row is None:
            return None
        row = getattr(row, part)
    return row.name if isinstance(row, FieldFile) else row
