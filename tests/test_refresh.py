"""The page's one refresh: every pending card, the queue and the chip in one answer, only what you may see."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from generations.models import Exploration, JobSet, Style
from generations.web.views.refresh import MAX_CARDS, MAX_EXPLORATIONS
from tests.factories import make_finished, make_job_set

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


def refresh(client, *ids, queue: bool = False, exploration: int | None = None, **headers):
    query = "&".join([f"card={pk}" for pk in ids] + (["queue=1"] if queue else []))
    query += f"&exploration={exploration}" if exploration else ""
    return client.get(f"/refresh/?{query}", **{**HTMX, **headers})


def card_ids(html: str) -> set[int]:
    return {int(pk) for pk in re.findall(r'<article [^>]*id="job-set-(\d+)"', html)}


def pending_ids(html: str) -> set[int]:
    return {int(pk) for pk in re.findall(r'data-refresh-card="(\d+)"', html)}


def test_the_answer_carries_every_pending_card_asked_for_each_with_its_id_and_place(alice_client, alice):
    waiting = [make_job_set(alice, prompt=f"waiting {n}") for n in range(3)]
    response = refresh(alice_client, *(js.pk for js in waiting))
    assert response.status_code == 200
    html = response.content.decode()
    assert card_ids(html) == {js.pk for js in waiting}
    assert pending_ids(html) == {js.pk for js in waiting}  # still pending: the page keeps asking
    assert "1st in line" in html and "3rd in line" in html
    assert 'id="spend-chip"' not in html  # nothing settled, spend unchanged
    assert response["Cache-Control"].startswith("max-age=0")


def test_a_card_that_finished_comes_back_final_without_the_refresh_mark_and_with_the_chip(
    alice_client, alice
):
    done = make_finished(alice, "just finished")
    still = make_job_set(alice, prompt="still waiting")
    html = refresh(alice_client, done.pk, still.pk).content.decode()
    assert card_ids(html) == {done.pk, still.pk}
    assert pending_ids(html) == {still.pk}
    assert html.count("<img ") == 1
    assert 'id="spend-chip"' in html and "This month <strong>$" in html


def test_another_teams_cards_are_left_out_as_if_they_did_not_exist(alice_client, alice, bob):
    theirs = make_job_set(bob, prompt="bravo's secret prompt")
    mine = make_job_set(alice, prompt="alpha's own")
    html = refresh(alice_client, theirs.pk, mine.pk).content.decode()
    assert card_ids(html) == {mine.pk}
    assert "bravo's secret prompt" not in html
    only_theirs = refresh(alice_client, theirs.pk)
    assert only_theirs.status_code == 204 and only_theirs.content == b""
    gone = refresh(alice_client, 999_999)
    assert gone.status_code == 204 and gone.content == b""


def test_nothing_pending_asked_for_is_a_204_with_an_empty_body(alice_client):
    response = alice_client.get("/refresh/", **HTMX)
    assert response.status_code == 204 and response.content == b""


@pytest.mark.parametrize(
    "query",
    [
        "card=abc",
        "card=-1",
        "card=0",
        "card=1.5",
        "card=²",
        "card=99999999999999999999",
        "card=1%00",
        "card=",
        "card=1&card=x",
        "queue=yes",
        "queue=1&queue=%00",
        "queue=",
    ],
)
def test_a_hostile_query_is_a_400_never_a_500(alice_client, alice, query):
    make_job_set(alice)
    assert alice_client.get(f"/refresh/?{query}", **HTMX).status_code == 400


def test_too_many_cards_at_once_is_a_400(alice_client):
    query = "&".join(f"card={n}" for n in range(1, MAX_CARDS + 2))
    assert alice_client.get(f"/refresh/?{query}", **HTMX).status_code == 400
    query = "&".join(f"card={n}" for n in range(1, MAX_CARDS + 1))
    assert alice_client.get(f"/refresh/?{query}", **HTMX).status_code == 204  # none of them exists


def test_the_same_id_twice_is_one_card(alice_client, alice):
    job_set = make_job_set(alice)
    html = refresh(alice_client, job_set.pk, job_set.pk).content.decode()
    assert html.count(f'id="job-set-{job_set.pk}"') == 1


def test_anonymous_is_sent_to_log_in(client, alice):
    job_set = make_job_set(alice)
    response = refresh(client, job_set.pk)
    # The page's script is told to take the whole page there (generations/web/login.py).
    assert response["HX-Redirect"].startswith("/accounts/login/")
    assert b"password" not in response.content.lower()


def test_on_the_queue_page_the_answer_carries_the_list_and_the_chip(alice_client, alice):
    waiting = make_job_set(alice, prompt="waiting in the queue")
    html = refresh(alice_client, queue=True).content.decode()
    assert '<div id="queue-body"' in html and "data-refresh-queue" in html
    assert "waiting in the queue" in html and "1st" in html
    assert 'id="spend-chip"' in html
    assert "<html" not in html  # the list alone, not the whole page

    JobSet.objects.filter(pk=waiting.pk).update(status=JobSet.Status.CANCELED, charge=JobSet.Charge.RELEASED)
    html = refresh(alice_client, queue=True).content.decode()
    assert '<div id="queue-body"' in html and "data-refresh-queue" not in html  # the page stops


def test_the_queue_list_shows_only_this_persons_team(alice_client, alice, bob):
    make_job_set(bob, prompt="bravo waits too")
    html = refresh(alice_client, queue=True).content.decode()
    assert "bravo waits too" not in html


def test_the_queue_list_without_htmx_is_a_400(alice_client):
    assert alice_client.get("/refresh/?queue=1").status_code == 400


def test_the_elapsed_time_moves_on_between_two_refreshes(alice_client, alice):
    job_set = make_job_set(alice)
    JobSet.objects.filter(pk=job_set.pk).update(created_at=timezone.now() - timezone.timedelta(seconds=75))
    html = refresh(alice_client, job_set.pk).content.decode()
    assert re.search(r'class="muted elapsed"[^>]*>1 min 1[5-9] s<', html)


def test_thirty_pending_cards_cost_a_bounded_number_of_queries(alice_client, alice):
    ids = [make_job_set(alice, prompt=f"one of many {n}", batch_size=4).pk for n in range(30)]
    refresh(alice_client, *ids[:3])  # warm up the session and membership reads
    with CaptureQueriesContext(connection) as few:
        refresh(alice_client, *ids[:3])
    with CaptureQueriesContext(connection) as many:
        response = refresh(alice_client, *ids)
    assert len(card_ids(response.content.decode())) == 30
    assert len(many) == len(few)  # no query per card


def test_the_answer_is_compressed_for_a_browser_that_accepts_it(alice_client, alice):
    ids = [make_job_set(alice, prompt=f"compressed {n}").pk for n in range(10)]
    plain = refresh(alice_client, *ids)
    packed = refresh(alice_client, *ids, HTTP_ACCEPT_ENCODING="gzip")
    assert packed["Content-Encoding"] == "gzip" and "Accept-Encoding" in packed["Vary"]
    assert len(packed.content) * 4 < len(plain.content)


def make_exploration(client) -> Exploration:
    """Two styles by two seeds, through the generate form as a person explores (four job sets)."""
    styles = Style.objects.filter(is_active=True)[:2]
    data = {"prompt": "explored", "width_and_height": "1536x2048", "quality": "720p", "batch_size": "1"}
    data |= {"explore_styles": [str(style.pk) for style in styles], "seeds": "11, 12"}
    assert client.post("/generate/", data, HTTP_HX_REQUEST="true").status_code == 200
    return Exploration.objects.get()


def test_an_explorations_group_card_comes_in_the_same_answer_and_only_for_its_team(
    alice_client, alice, bob, client
):
    exploration = make_exploration(alice_client)
    mine = make_job_set(alice, prompt="a single one")
    response = refresh(alice_client, mine.pk, exploration=exploration.pk)
    html = response.content.decode()
    assert response.status_code == 200
    assert f'id="exploration-{exploration.pk}"' in html and card_ids(html) == {mine.pk}
    assert 'id="spend-chip"' in html

    client.force_login(bob)
    theirs = client.get(f"/refresh/?exploration={exploration.pk}", **HTMX)
    assert theirs.status_code == 204 and theirs.content == b""
    assert client.get("/refresh/?exploration=x", **HTMX).status_code == 400
    many = "&".join(f"exploration={n}" for n in range(1, MAX_EXPLORATIONS + 2))
    assert client.get(f"/refresh/?{many}", **HTMX).status_code == 400


def test_pages_mark_pending_things_for_the_refresh_and_no_longer_poll_on_their_own(alice_client, alice):
    job_set = make_job_set(alice)
    gallery = alice_client.get("/").content.decode()
    assert f'data-refresh-card="{job_set.pk}"' in gallery
    assert 'hx-trigger="every' not in gallery
    assert 'src="/static/js/refresh.js" data-refresh-url="/refresh/"' in gallery
    queue = alice_client.get("/queue/").content.decode()
    assert "data-refresh-queue" in queue and 'hx-trigger="every' not in queue
