"""The gallery's fast stand-ins for Django's template tags render exactly what the originals do."""

from __future__ import annotations

import pytest
from django.template.defaultfilters import truncatechars
from django.urls import reverse

from generations import jinja
from generations.forms import GenerateForm
from generations.templatetags import soul
from tests.factories import make_finished

pytestmark = pytest.mark.django_db


def test_path_is_reverse_for_every_link_on_a_card(alice):
    job_set = make_finished(alice, batch_size=4)
    job = job_set.jobs.first()
    for name, args in [
        ("image", (job.pk, "min")),
        ("image", (job.pk, "raw")),
        ("lightbox", (job.pk,)),
        ("star", (job.pk,)),
        ("card", (job_set.pk,)),
        ("reuse", (job_set.pk,)),
        ("details", (job_set.pk,)),
        ("cancel", (job_set.pk,)),
        ("submit-again", (job_set.pk,)),
        ("retry-download", (job_set.pk,)),
        ("image", (7, "min")),  # the cached pattern, filled with other numbers
        ("lightbox", (1234567,)),
    ]:
        assert soul.path(name, *args) == reverse(name, args=args)


def test_radio_tag_renders_what_django_renders(alice, team_a):
    for data in (None, {"width_and_height": "2048x1152", "quality": "1080p", "batch_size": "4"}):
        form = GenerateForm(data, team=team_a)
        for name in ("width_and_height", "style_id", "quality", "batch_size"):
            radios = list(form[name])
            assert radios
            for radio in radios:
                assert jinja.radio_tag(radio) == str(radio.tag())


@pytest.mark.parametrize("text", ["short", "x" * 80, "y" * 81, "a prompt with “quotes” & <tags> " * 5])
@pytest.mark.parametrize("length", [1, 40, 80, 200])
def test_clip_is_truncatechars_for_prompts(text, length):
    assert jinja.clip(text, length) == truncatechars(text, length)
