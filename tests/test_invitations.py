"""Adding and inviting people: every part checked first, and a refused invitation creates nothing."""

from __future__ import annotations

import smtplib
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import RequestFactory

from generations.actions import teams as team_actions
from generations.models import Membership

pytestmark = pytest.mark.django_db

LONG_ADDRESS = "a" * 243 + "@example.com"  # 255 characters, one over the limit


@pytest.fixture
def manager(django_user_model, team_a):
    carol = django_user_model.objects.create_user("carol", "carol@example.com", "carol-password-1")
    team_actions.add_member(team_a, carol, Membership.Role.MANAGER)
    return carol


@pytest.fixture
def manager_client(client, manager):
    client.force_login(manager)
    return client


def counts():
    return get_user_model().objects.count(), Membership.objects.count(), len(mail.outbox)


def test_an_address_over_254_characters_is_refused_beside_the_field_and_creates_no_account(
    manager_client,
):
    assert len(LONG_ADDRESS) == 255
    before = counts()
    response = manager_client.post("/team/add/", {"who": LONG_ADDRESS, "role": "member"})
    assert response.status_code == 422
    html = response.content.decode()
    assert 'id="id_who_error"' in html and "at most 254 characters" in html
    assert 'aria-describedby="id_who_helptext id_who_error"' in html
    assert counts() == before


def test_an_address_of_254_characters_is_invited(manager_client):
    address = "b" * 242 + "@example.com"
    assert len(address) == 254
    response = manager_client.post("/team/add/", {"who": address, "role": "member"})
    assert response.status_code == 302
    assert get_user_model().objects.filter(email=address).exists() and len(mail.outbox) == 1


@pytest.mark.parametrize("who", ["a@b", "@example.com", "name@", "two@@example.com", "a b@example.com"])
def test_a_malformed_address_is_refused_and_creates_nothing(manager_client, who):
    before = counts()
    response = manager_client.post("/team/add/", {"who": who, "role": "member"})
    assert response.status_code == 422 and 'id="id_who_error"' in response.content.decode()
    assert counts() == before


@pytest.mark.parametrize("role", ["owner", "", "MANAGER", "manager\x01"])
def test_a_role_that_is_not_member_or_manager_is_refused_and_creates_nothing(manager_client, role):
    before = counts()
    response = manager_client.post("/team/add/", {"who": "new@example.com", "role": role})
    assert response.status_code == 422
    assert "Pick member or manager." in response.content.decode()
    assert counts() == before


def test_an_invitation_that_cannot_be_mailed_leaves_no_account_and_says_so(manager_client, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    before = counts()
    with mock.patch("smtplib.SMTP", side_effect=smtplib.SMTPConnectError(421, "down")):
        response = manager_client.post("/team/add/", {"who": "fay@example.com", "role": "member"})
    assert response.status_code == 422
    assert "could not be sent" in response.content.decode()
    assert counts() == before


def test_only_a_manager_of_the_team_can_invite_into_it(rf, alice, team_a):
    request = RequestFactory().post("/team/add/")
    request.user = alice  # a member, not a manager
    with pytest.raises(team_actions.InvitationRefused):
        team_actions.add_or_invite(team_a, "new@example.com", "member", request)
    assert not get_user_model().objects.filter(email="new@example.com").exists()


def test_the_action_refuses_a_bad_address_or_role_even_when_called_directly(manager, team_a):
    request = RequestFactory().post("/team/add/")
    request.user = manager
    before = counts()
    for who, role in ((LONG_ADDRESS, "member"), ("new@example.com", "owner"), ("nobody-here", "member")):
        with pytest.raises(team_actions.InvitationRefused):
            team_actions.add_or_invite(team_a, who, role, request)
    assert counts() == before


def test_an_invited_persons_username_keeps_only_characters_a_login_accepts(manager_client):
    manager_client.post("/team/add/", {"who": "o'brien+art!@example.com", "role": "member"})
    user = get_user_model().objects.get(email="o'brien+art!@example.com")
    assert user.username == "obrien+art"
