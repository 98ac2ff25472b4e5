"""The Jinja2 card: escaped, strict about what it is given, and the same wherever it is drawn."""

from __future__ import annotations

import gc
import re

import jinja2
import pytest
from django.template import engines
from django.test import RequestFactory

from generations.models import Favourite, Job, JobSet
from generations.web import card_cache, cards
from tests.factories import make_finished, make_job_set

pytestmark = pytest.mark.django_db


def _request(user):
    request = RequestFactory().get("/")
    request.user = user
    return request


def test_a_prompt_is_escaped_on_the_card(alice, team_a):
    make_job_set(alice, prompt='<script>alert("x")</script> & more')
    html = cards.render_cards(_request(alice), list(JobSet.objects.all()))
    assert "<script>" not in html
    assert "&lt;script&gt;" in html and "&amp; more" in html


def test_a_name_the_card_was_not_given_is_an_error_not_a_blank():
    template = engines["jinja2"].from_string("{{ job_set.prompt }}")
    with pytest.raises(jinja2.UndefinedError):
        template.render({})


def _star_of(html: str, job: Job) -> str:
    return re.search(rf'<button[^>]*hx-post="/images/{job.pk}/star/"[^>]*>', html).group(0)


def test_every_way_of_drawing_a_card_shows_my_stars(client, alice, media_root):
    client.force_login(alice)
    job_set = make_finished(alice, batch_size=4)
    starred, plain = list(job_set.jobs.order_by("index"))[:2]
    Favourite.objects.create(user=alice, job=starred)
    # The gallery, the card a pending card is replaced by, and the lightbox's star.
    for url in ("/", f"/job-sets/{job_set.pk}/card/"):
        html = client.get(url).content.decode()
        assert 'aria-pressed="true"' in _star_of(html, starred), url
        assert 'aria-pressed="false"' in _star_of(html, plain), url
    lightbox = client.get(f"/images/{starred.pk}/lightbox/").content.decode()
    assert 'aria-pressed="true"' in _star_of(lightbox, starred)


def test_a_star_click_answers_with_the_new_star(client, alice, media_root):
    client.force_login(alice)
    job = make_finished(alice).jobs.get()
    on = client.post(f"/images/{job.pk}/star/", HTTP_HX_REQUEST="true").content.decode()
    assert 'class="star on"' in on and 'aria-pressed="true"' in on
    off = client.post(f"/images/{job.pk}/star/", HTTP_HX_REQUEST="true").content.decode()
    assert 'class="star"' in off and 'aria-pressed="false"' in off


def test_the_card_of_someone_elses_job_set_names_them_and_offers_no_cancel(client, alice, bob, team_a):
    from generations.actions import teams

    teams.add_member(team_a, bob)
    make_job_set(alice, prompt="alice waits")
    client.force_login(bob)
    html = client.get("/?view=team").content.decode()
    assert "by alice" in html
    assert ">Cancel<" not in html
    client.force_login(alice)
    html = client.get("/").content.decode()
    assert ">Cancel<" in html and 'name="csrfmiddlewaretoken"' in html


def test_a_card_drawn_on_its_own_shows_the_images_the_gallery_shows(client, alice, media_root):
    from generations.actions import hiding

    client.force_login(alice)
    job_set = make_finished(alice, batch_size=4)
    hidden, *kept = list(job_set.jobs.order_by("index"))
    hiding.hide(Job.objects.filter(pk=hidden.pk), alice)
    # The gallery, the card a poll or a retry answers with, and the gallery's "Hidden" view.
    for url, shown, left_out in (
        ("/", kept, [hidden]),
        (f"/job-sets/{job_set.pk}/card/", kept, [hidden]),
        ("/?hidden=1", [hidden], kept),
    ):
        html = client.get(url).content.decode()
        assert all(f'data-job="{job.pk}"' in html for job in shown), url
        assert not any(f'data-job="{job.pk}"' in html for job in left_out), url


def test_a_waiting_cards_poll_does_not_look_for_stars_it_cannot_have(client, alice):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(alice)
    job_set = make_job_set(alice)  # waiting: no images yet
    with CaptureQueriesContext(connection) as captured:
        assert client.get(f"/job-sets/{job_set.pk}/card/").status_code == 200
    assert not [q for q in captured.captured_queries if "generations_favourite" in q["sql"]]


def _gallery_cards(user) -> str:
    from generations.queries import gallery

    job_sets = gallery.page(user, gallery.Filters(team=teams_of(user)))
    html = str(cards.render_cards(_request(user), job_sets))
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)  # masked anew each time


def teams_of(user):
    from generations.queries import teams

    return teams.current_team(user)


def test_a_kept_settled_card_is_exactly_the_card_drawn_afresh(alice, bob, team_a, media_root, monkeypatch):
    from generations.actions import teams

    teams.add_member(team_a, bob)
    finished = make_finished(alice, "done and starred", batch_size=4)
    Favourite.objects.create(user=alice, job=finished.jobs.order_by("index").first())
    make_finished(bob, "bob's, done")
    for status in (JobSet.Status.NSFW, JobSet.Status.CANCELED, JobSet.Status.FAILED, JobSet.Status.EXPIRED):
        JobSet.objects.filter(pk=make_job_set(alice, prompt=f"now {status}").pk).update(status=status)
    failed_download = make_finished(alice, "download failed")
    failed_download.jobs.update(image="", raw_url="https://example.invalid/x.png", download_error="timed out")
    make_job_set(alice, prompt="still waiting")
    card_cache.clear()
    for viewer in (alice, bob, alice):  # drawn, then kept for each; bob's view is another key
        kept_first, kept_again = _gallery_cards(viewer), _gallery_cards(viewer)
        with monkeypatch.context() as fresh:
            fresh.setattr(card_cache, "SETTLED", frozenset())  # nothing kept: every card drawn
            assert kept_first == kept_again == _gallery_cards(viewer)
    # The settled ones of both viewers, and only those: finished, blocked, canceled.
    assert len(card_cache._kept) == 2 * 4


def test_a_kept_card_is_drawn_again_when_anything_it_shows_changes(alice, bob, team_a, media_root):
    from generations.actions import hiding, teams

    teams.add_member(team_a, bob)
    job_set = make_finished(alice, "before", batch_size=4)
    first, second, *_ = list(job_set.jobs.order_by("index"))
    card_cache.clear()
    html = _gallery_cards(alice)
    assert "before" in html and "by alice" not in html and 'class="star on"' not in html
    Favourite.objects.create(user=alice, job=first)
    assert 'aria-pressed="true"' in _star_of(_gallery_cards(alice), first)
    JobSet.objects.filter(pk=job_set.pk).update(prompt="after", charge=JobSet.Charge.RELEASED)
    html = _gallery_cards(alice)
    assert "after" in html and "before" not in html and "not charged" in html
    hiding.hide(Job.objects.filter(pk=second.pk), alice)
    assert f'data-job="{second.pk}"' not in _gallery_cards(alice)
    bobs = _gallery_cards(bob)
    assert "by alice" in bobs and 'aria-pressed="false"' in _star_of(bobs, first)


def test_a_reloaded_card_template_never_finds_the_markup_of_the_one_it_replaced():
    # A template edited under the development server is compiled again and the old object
    # freed; Python may give a later object the same id(), so keys must not be made of it.
    old = jinja2.Template("{{ 1 }}")
    kept = card_cache._generation(old)
    assert card_cache._generation(old) == kept
    del old
    gc.collect()
    reloaded = [jinja2.Template("{{ 1 }}") for _ in range(20)]
    assert kept not in {card_cache._generation(template) for template in reloaded}
