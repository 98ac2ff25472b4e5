"""A request without a login: a page goes to the login page; a part of a page takes the whole page there."""

from __future__ import annotations

import pytest


@pytest.mark.django_db
def test_a_page_without_a_login_is_sent_to_the_login_page(client):
    response = client.get("/spend/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/spend/"


@pytest.mark.django_db
@pytest.mark.parametrize("part", ["/spend/chip/", "/refresh/?card=1"])
def test_a_part_of_a_page_after_the_session_ended_sends_the_whole_page_to_log_in(client, part):
    response = client.get(
        part, HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="http://testserver/?q=lighthouse&mine=1"
    )
    # Not the login form swapped into the header or a card: htmx is told to go there.
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/accounts/login/?next=/%3Fq%3Dlighthouse%26mine%3D1"
    assert b"password" not in response.content.lower()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "current",
    ["https://evil.example/steal", "javascript:alert(1)", "", "//evil.example/x", "not a url at all"],
)
def test_coming_back_after_login_never_leads_off_the_site(client, current):
    response = client.get("/spend/chip/", HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL=current)
    assert response["HX-Redirect"] == "/accounts/login/?next=/"
