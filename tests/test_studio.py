"""The studio (issue 23) on the server: sorts, vary, the prompt kept, the image size, the viewer's actions."""

from __future__ import annotations

import re

import pytest

from generations.actions import jobsets
from generations.models import Favourite, JobSet
from generations.queries import gallery
from generations.queries.gallery import Filters
from generations.web import query_forms
from soulwire import params
from tests.factories import make_finished, make_job_set

pytestmark = pytest.mark.django_db
Status = JobSet.Status


def _prompts(page: list[JobSet]) -> list[str]:
    return [job_set.prompt for job_set in page]


def _walk(user, filters: Filters, size: int) -> list[str]:
    """Every page of a view, each after the last card of the one before, as "Show older" does."""
    seen, before = [], None
    while True:
        page = gallery.page(user, filters, before=before, size=size)
        seen += _prompts(page)
        if len(page) < size:
            return seen
        before = page[-1].pk


def test_oldest_first_pages_forward_without_repeating_or_skipping(alice, team_a):
    made = [make_job_set(alice, prompt=f"picture {n}").prompt for n in range(7)]
    filters = Filters(team=team_a, sort="oldest")
    assert _walk(alice, filters, size=3) == made
    assert _walk(alice, Filters(team=team_a), size=3) == made[::-1]


def test_starred_first_puts_yours_first_then_the_rest_both_newest_first(alice, bob, team_a):
    made = [make_finished(alice, f"picture {n}") for n in range(7)]
    for n in (1, 4, 5):
        Favourite.objects.create(user=alice, job=made[n].jobs.get())
    expected = ["picture 5", "picture 4", "picture 1", "picture 6", "picture 3", "picture 2", "picture 0"]
    for size in (1, 2, 3, 10):  # a page boundary inside the starred part, on it, and past it
        assert _walk(alice, Filters(team=team_a, sort="starred"), size=size) == expected


def test_starred_first_counts_only_your_own_stars(alice, bob, team_a, django_user_model):
    from generations.models import Membership

    carol = django_user_model.objects.create_user("carol", password="carol-password-1")
    Membership.objects.create(user=carol, team=team_a, role="member")
    first = make_finished(alice, "first")
    make_finished(alice, "second")
    Favourite.objects.create(user=carol, job=first.jobs.get())
    assert _prompts(gallery.page(alice, Filters(team=team_a, sort="starred"))) == ["second", "first"]
    assert _prompts(gallery.page(carol, Filters(team=team_a, sort="starred"))) == ["first", "second"]


def test_the_sort_lives_in_the_url_and_a_bad_one_is_named_and_left_out(team_a):
    filters, form = query_forms.gallery_filters(team_a, {"sort": "oldest"})
    assert filters.sort == "oldest" and "sort=oldest" in filters.query_string()
    assert not filters.narrowed  # a sort shows the same images: "Clear filters" is not offered for it
    filters, form = query_forms.gallery_filters(team_a, {"sort": "random"})
    assert filters.sort == ""
    assert [name for name, _, _ in form.shown_errors()] == ["sort"]


def test_the_gallery_page_is_drawn_in_the_sort_asked_for(client, alice):
    client.force_login(alice)
    for n in range(3):
        make_finished(alice, f"sorted picture {n}")
    page = client.get("/?sort=oldest").content.decode()
    order = [page.index(f"sorted picture {n}") for n in range(3)]
    assert order == sorted(order)
    assert re.search(r'<option value="oldest" selected>', page)
    bad = client.get("/?sort=sideways")
    assert bad.status_code == 200
    assert 'id="f-sort-error"' in bad.content.decode()


def test_vary_sends_the_same_request_with_a_new_seed_it_records(client, alice):
    client.force_login(alice)
    original = make_finished(alice, "vary me", seed=42, quality="1080p", batch_size=4)
    response = client.post(f"/job-sets/{original.pk}/submit-again/", {"seed": "new"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    varied = JobSet.objects.exclude(pk=original.pk).get()
    assert (varied.prompt, varied.quality, varied.batch_size) == ("vary me", "1080p", 4)
    assert varied.seed != 42 and params.SEED_MIN <= varied.seed <= params.SEED_MAX
    assert varied.status == Status.WAITING
    assert (
        f'id="job-set-{varied.pk}"' in response.content.decode()
    )  # the new card, for the top of the gallery


def test_vary_of_an_unconfirmed_one_is_a_new_request_not_the_same_one_sent_again(client, alice):
    client.force_login(alice)
    unsure = make_job_set(alice, prompt="unsure", seed=7)
    JobSet.objects.filter(pk=unsure.pk).update(status=Status.UNCONFIRMED)
    client.post(f"/job-sets/{unsure.pk}/submit-again/", {"seed": "new"}, HTTP_HX_REQUEST="true")
    assert JobSet.objects.count() == 2
    assert JobSet.objects.get(pk=unsure.pk).status == Status.UNCONFIRMED


def test_a_random_seed_is_in_range_and_never_the_one_excluded(monkeypatch):
    draws = iter([6, 6, 6, 41])  # secrets.randbelow: 6 -> seed 7 (excluded), then 41 -> seed 42
    monkeypatch.setattr(jobsets.secrets, "randbelow", lambda n: next(draws))
    assert jobsets.random_seed(exclude=7) == 42


def test_the_prompt_is_kept_after_generate(client, alice):
    client.force_login(alice)
    form = {
        "prompt": "keep me for the next one",
        "width_and_height": "1536x2048",
        "quality": "720p",
        "batch_size": "1",
    }
    response = client.post("/generate/", form, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    body = response.content.decode()
    textarea = re.search(r'<textarea[^>]*name="prompt"[^>]*>(.*?)</textarea>', body, re.S)
    assert textarea and textarea.group(1).strip() == "keep me for the next one"
    assert "data-clear-prompt" in body


@pytest.mark.parametrize(
    ("cookie", "size"),
    [("320", 320), ("120", 120), ("480", 480), ("999", 200), ("130", 200), ("big", 200), ("", 200)],
)
def test_the_image_size_comes_from_its_cookie_when_it_is_one_of_the_sizes(client, alice, cookie, size):
    client.force_login(alice)
    client.cookies["soulsite_tile"] = cookie
    page = client.get("/").content.decode()
    assert f'style="--tile: {size}px"' in page
    assert re.search(rf'value="{size}" data-tile-size', page)


def test_a_cards_notes_and_buttons_sit_over_its_images_and_placeholders_keep_the_images_shape(client, alice):
    client.force_login(alice)
    waiting = make_job_set(alice, prompt="still waiting", width_and_height="2048x1152")
    page = client.get("/").content.decode()
    card = page[page.index(f'id="job-set-{waiting.pk}"') :]
    card = card[: card.index("</article>")]
    media, body = card.split('<div class="card-body">')
    assert 'class="card-notes"' in media and ">Cancel<" in media  # over the images, not below them
    assert "reason" not in body and "<form" not in body
    assert 'class="thumb placeholder placeholder-waiting" style="aspect-ratio: 2048 / 1152"' in media


def test_the_viewer_offers_every_action_on_the_image(client, alice):
    client.force_login(alice)
    job = make_finished(alice, "in the viewer", batch_size=4).jobs.order_by("index")[1]
    box = client.get(f"/images/{job.pk}/lightbox/").content.decode()
    for text in (
        "Download full size",
        "Copy prompt",
        "Hide",
        "Use as reference",
        "Vary",
        "Try again",
        "? keys",
    ):
        assert text in box, text
    assert f'data-use-reference="/images/{job.pk}/raw/"' in box
    assert f'data-viewer-hide="{job.pk}"' in box
    assert "{#" not in box and "{%" not in box


def test_hiding_one_image_from_the_viewer_is_the_bulk_hide_with_undo(client, alice):
    client.force_login(alice)
    job = make_finished(alice, "hide me").jobs.get()
    response = client.post("/bulk/", {"action": "hide", "job": job.pk, "next": "/"})
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.hidden_at is not None
    assert client.session["undo_hide"] == [job.pk]


def test_every_page_names_its_icon_in_svg_and_png_and_both_are_served(client, alice):
    from django.contrib.staticfiles import finders

    client.force_login(alice)
    page = client.get("/team/").content.decode()
    for name, kind in (("favicon.svg", "image/svg+xml"), ("favicon.png", "image/png")):
        assert f'<link rel="icon" href="/static/{name}" type="{kind}"' in page, name
        assert finders.find(name), name
