"""The gallery's fast stand-ins for Django's template tags render exactly what the originals do."""

from __future__ import annotations

import pytest
from django import forms
from django.template.defaultfilters import truncatechars
from django.urls import reverse, set_script_prefix
from django.utils.safestring import mark_safe

from generations.models import JobSet
from generations.web import jinja, paths
from generations.web.forms import GenerateForm
from generations.web.templatetags import soul
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


def test_path_bound_to_the_prefix_is_reverse_under_a_script_prefix(alice):
    job_set = make_finished(alice)
    job = job_set.jobs.first()
    try:
        for prefix in ("/", "/soul/"):
            set_script_prefix(prefix)
            bound = paths.under_current_prefix()
            for name, args in [("image", (job.pk, "min")), ("card", (job_set.pk,)), ("generate", ())]:
                assert bound(name, *args) == soul.path(name, *args) == reverse(name, args=args)
                assert bound(name, *args).startswith(prefix)
    finally:
        set_script_prefix("/")


def test_radio_tag_escapes_as_django_does():
    # Values, labels and attributes with every character HTML treats specially, and the
    # attribute forms Django writes differently: True (the name alone), False (left out), safe text.
    awkward = "a \"quoted\" & <tagged> 'value'"
    field = forms.ChoiceField(
        choices=[(awkward, awkward), ("plain", "Plain")],
        widget=forms.RadioSelect(
            attrs={"data-x": awkward, "required": True, "disabled": False, "title": mark_safe("<b>&amp;</b>")}
        ),
    )

    class Awkward(forms.Form):
        choice = field

    for data in (None, {"choice": awkward}):
        for radio in Awkward(data)["choice"]:
            assert jinja.radio_tag(radio) == str(radio.tag())


@pytest.mark.parametrize("status", JobSet.Status.values)
def test_status_label_is_get_status_display(status):
    assert JobSet(status=status).status_label == JobSet(status=status).get_status_display()


@pytest.mark.parametrize("charge", JobSet.Charge.values)
def test_charge_label_is_get_charge_display(charge):
    assert JobSet(charge=charge).charge_label == JobSet(charge=charge).get_charge_display()


@pytest.mark.parametrize("text", ["short", "x" * 80, "y" * 81, "a prompt with “quotes” & <tags> " * 5])
@pytest.mark.parametrize("length", [1, 40, 80, 200])
def test_clip_is_truncatechars_for_prompts(text, length):
    assert jinja.clip(text, length) == truncatechars(text, length)
