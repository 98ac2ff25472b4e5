"""Failed logins lock a (username, address) pair, and an account only after many failures from
anywhere: one person's typos behind an office's one address lock out nobody else."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def login(client: Client, username: str, password: str, address: str):
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


@pytest.fixture
def limits(settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_ACCOUNT_FAILURE_LIMIT = 8


OFFICE = "192.0.2.10"


def test_one_persons_failures_at_an_address_do_not_lock_another_person_there(alice, bob, limits):
    client = Client()
    for _ in range(5):
        login(client, "alice", "a typo", address=OFFICE)
    assert login(client, "bob", "bob-password-1", address=OFFICE).status_code == 302


def test_the_same_person_at_the_same_address_is_locked_after_the_limit(alice, limits):
    client = Client()
    for _ in range(2):
        assert login(client, "alice", "a typo", address=OFFICE).status_code == 200
    assert login(client, "alice", "a typo", address=OFFICE).status_code == 429  # the third locks
    locked = login(client, "alice", "alice-password-1", address=OFFICE)
    assert locked.status_code == 429 and "Too many failed logins" in locked.content.decode()


def test_a_person_locked_at_one_address_can_still_log_in_from_another(alice, limits):
    client = Client()
    for _ in range(3):
        login(client, "alice", "a typo", address=OFFICE)
    assert login(client, "alice", "alice-password-1", address=OFFICE).status_code == 429
    assert login(client, "alice", "alice-password-1", address="198.51.100.7").status_code == 302


def test_guessing_one_account_from_many_addresses_locks_it_everywhere_at_the_higher_limit(alice, bob, limits):
    client = Client()
    for n in range(7):  # two failures from each of four addresses: no pair reaches 3
        assert login(client, "alice", f"guess {n}", address=f"203.0.113.{n // 2}").status_code == 200
    assert login(client, "alice", "guess 7", address="203.0.113.3").status_code == 429  # the eighth locks
    locked = login(client, "alice", "alice-password-1", address="198.51.100.7")
    assert locked.status_code == 429
    # Only that account: another person at one of the guessing addresses still logs in.
    assert login(client, "bob", "bob-password-1", address="203.0.113.0").status_code == 302


def test_below_the_account_limit_failures_spread_over_addresses_lock_nothing(alice, limits):
    client = Client()
    for n in range(7):
        login(client, "alice", f"guess {n}", address=f"203.0.113.{n // 2}")
    assert login(client, "alice", "alice-password-1", address="198.51.100.7").status_code == 302
