"""What the walk of every URL (tests/test_hostile_input.py) found, each kept as a plain test.

Every one of these answered 500 before requests were parsed in one place (generations/web/parsing.py).
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import Resolver404, resolve

from generations.models import Budget
from generations.web import parsing
from tests.factories import make_finished, make_job_set
from tests.test_hostile_input import snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def member_client(alice):
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    return client


@pytest.mark.parametrize(
    "query",
    [
        "member=99999999999999999999",  # OverflowError: Python int too large to convert to SQLite INTEGER
        "member=²",  # ValueError: str.isdigit() said yes
        "collection=99999999999999999999",
        "before=²",
        "from=9999-12-31&to=9999-12-31",  # OverflowError: date value out of range
        "from=0001-01-01",
    ],
)
def test_the_gallery_answers_odd_parameters_without_a_server_error(member_client, alice, query):
    assert member_client.get(f"/?{query}").status_code in (200, 400)
    job_set = make_job_set(alice)
    assert member_client.get(f"/job-sets/{job_set.pk}/reuse/?{query}").status_code in (200, 400)


@pytest.mark.parametrize("query", ["from=9999-12-31&to=9999-12-31", "from=0001-01-01&to=0001-01-02"])
def test_the_spend_page_answers_the_calendars_edges_without_a_server_error(member_client, query):
    assert member_client.get(f"/spend/?{query}").status_code == 200
    assert member_client.get(f"/spend/export.csv?{query}").status_code == 400


@pytest.mark.parametrize("job", ["99999999999999999999", "²", "-1", "1e400"])
def test_compare_and_bulk_answer_ids_that_are_not_ids_without_a_server_error(member_client, job):
    assert member_client.get(f"/compare/?job={job}&job={job}").status_code == 404
    response = member_client.post("/bulk/", {"action": "star", "job": [job], "next": "/"})
    assert response.status_code == 302


@pytest.mark.parametrize("back", ["1e400", "-1", "gallery", "//evil.example/", "https://evil.example/"])
def test_a_next_that_is_not_a_path_on_this_site_goes_back_to_the_gallery(member_client, alice, back):
    job = make_finished(alice).jobs.get()
    response = member_client.post("/bulk/", {"action": "star", "job": [job.pk], "next": back})
    assert response.status_code == 302 and response["Location"] == "/"
    assert member_client.post("/bulk/undo-hide/", {"next": back})["Location"] == "/"


@pytest.mark.parametrize("team", ["²", "99999999999999999999", "-1", ""])
def test_switching_to_a_team_that_is_not_an_id_is_a_404(member_client, team):
    assert member_client.post("/team/switch/", {"team": team}).status_code == 404


def test_the_price_fragment_takes_a_batch_size_that_is_not_a_number(member_client):
    assert member_client.get("/generate/price/?batch_size=²&quality=4k").status_code == 200
    assert member_client.post("/generate/", {"batch_size": "²", "prompt": ""}).status_code == 422


@pytest.mark.parametrize("path", ["/job-sets/{}/", "/images/{}/raw/", "/characters/{}/delete/"])
def test_an_id_with_more_digits_than_the_database_holds_matches_no_url(member_client, path):
    resolve(path.format("9" * 18))
    for too_long in ("9" * 19, "1" * 40):
        with pytest.raises(Resolver404):
            resolve(path.format(too_long))
        assert member_client.get(path.format(too_long)).status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("get", "/", {"q": "fox\x00"}),
        ("get", "/spend/", {"scope": "\x00"}),
        ("post", "/bulk/", {"action": "file", "new_collection": "a\x00b", "next": "/"}),
        ("post", "/team/add/", {"who": "x\x00@example.com", "role": "member"}),
    ],
)
def test_a_nul_byte_anywhere_is_refused_with_a_400_before_any_view(member_client, method, path, data):
    member_client.get("/queue/")  # a first visit makes the profile
    before = snapshot()
    response = getattr(member_client, method)(path, data)
    assert response.status_code == 400
    assert "cannot be stored" in response.content.decode()
    assert snapshot() == before


def test_a_history_link_with_a_word_for_an_id_is_not_found(client, django_user_model, team_a):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "root-password-1")
    client.force_login(admin)
    budget = Budget.objects.create(team=team_a, user=None, monthly_limit=5)
    assert client.get(f"/admin/generations/budget/{budget.pk}/history/abc/").status_code == 404


@pytest.mark.parametrize(
    ("text", "wanted"),
    [
        ("1", 1),
        ("000042", 42),
        ("9" * 18, int("9" * 18)),
        ("9" * 19, None),  # past 2**63 - 1 for some 19-digit numbers: none are taken
        ("0", None),
        ("-1", None),
        ("²", None),
        ("١٢", None),  # digits, but not the ASCII ones a link is written with
        (" 1", None),
        ("1.0", None),
        ("", None),
        (None, None),
    ],
)
def test_an_id_is_ascii_digits_that_fit_the_database_or_nothing(text, wanted):
    assert parsing.id_from(text) == wanted


@pytest.mark.parametrize(
    ("text", "amount"),
    [("25", "25"), ("$12.50", "12.50"), (" 7 ", "7"), ("-0", "0"), ("0.10", "0.10"), ("", None)],
)
def test_money_is_dollars_and_cents(text, amount):
    field = parsing.MoneyField(required=False)
    cleaned = field.clean(text)
    assert (str(cleaned) if cleaned is not None else None) == amount


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-1", "1e400", "1,000", "12.345", "100000000", "abc"])
def test_money_that_is_not_an_amount_of_dollars_is_refused_in_words(text):
    with pytest.raises(ValidationError) as refused:
        parsing.MoneyField(required=False).clean(text)
    assert not any("Decimal" in message or "digits" in message for message in refused.value.messages)


@pytest.mark.parametrize("text", ["2026-13-45", "2026-02-30", "0001-01-01", "9999-12-31", "24/11/2026", "²"])
def test_a_day_outside_the_calendar_or_the_sites_years_is_refused(text):
    with pytest.raises(ValidationError):
        parsing.DayField(required=False).clean(text)


def test_going_back_after_starring_returns_to_the_page_it_came_from(member_client, alice):
    job = make_finished(alice).jobs.get()
    response = member_client.post(f"/images/{job.pk}/star/", HTTP_REFERER="http://testserver/?view=mine")
    assert response["Location"] == "http://testserver/?view=mine"
    response = member_client.post(f"/images/{job.pk}/star/", HTTP_REFERER="1e400")
    assert response["Location"] == "/"


def test_a_broken_link_gets_a_page_that_says_nothing_was_done(member_client):
    response = member_client.get("/?before=²")
    assert response.status_code == 400
    assert "nothing was done" in response.content.decode()
