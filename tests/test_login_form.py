"""The login form refuses a username longer than an account's, beside the field, recording nothing."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt

pytestmark = pytest.mark.django_db


def test_a_username_longer_than_any_account_is_refused_beside_its_field_and_nothing_stored(client, alice):
    response = client.post("/accounts/login/", {"username": "x" * 5000, "password": "whatever"})
    assert response.status_code == 200
    assert "Ensure this value has at most 150 characters" in response.content.decode()
    assert not AccessAttempt.objects.exists()


def test_the_right_username_and_password_still_log_in(client, alice):
    response = client.post("/accounts/login/", {"username": "alice", "password": "alice-password-1"})
    assert response.status_code == 302
