"""`manage.py check --deploy` warns when production cannot reach the real gateway or be reached by it."""

from __future__ import annotations

import pytest
from django.core.checks import run_checks

PRODUCTION = {"DEBUG": False, "SOUL_SANDBOX": False, "SOUL_API_KEY": "a-real-key", "SOUL_PUBLIC_URL": ""}


def ours(**overrides) -> dict[str, str]:
    """The soulsite warnings of a deploy check with these settings: {id: message and hint}."""
    from django.test import override_settings

    with override_settings(**{**PRODUCTION, "SOUL_PUBLIC_URL": "https://soul.example.com", **overrides}):
        found = run_checks(include_deployment_checks=True)
    return {item.id: f"{item.msg} {item.hint}" for item in found if item.id.startswith("soulsite.")}


def test_production_with_a_key_and_a_public_address_gets_no_warning():
    assert ours() == {}


def test_sandbox_mode_with_debug_off_is_a_warning_that_says_to_set_the_key():
    found = ours(SOUL_SANDBOX=True, SOUL_API_KEY="sandbox")
    assert set(found) == {"soulsite.W002"}
    assert "sandbox mode" in found["soulsite.W002"] and "Set SOUL_API_KEY" in found["soulsite.W002"]


def test_an_empty_key_is_a_warning():
    found = ours(SOUL_API_KEY="")
    assert set(found) == {"soulsite.W001"} and "Set SOUL_API_KEY" in found["soulsite.W001"]


def test_no_public_address_is_a_warning_that_says_webhooks_are_off():
    found = ours(SOUL_PUBLIC_URL="")
    assert set(found) == {"soulsite.W003"}
    assert "webhooks" in found["soulsite.W003"] and "Set SOUL_PUBLIC_URL" in found["soulsite.W003"]


@pytest.mark.parametrize("overrides", [{"SOUL_PUBLIC_URL": ""}, {"SOUL_API_KEY": ""}])
def test_a_plain_check_without_deploy_says_nothing(overrides):
    from django.test import override_settings

    with override_settings(**{**PRODUCTION, **overrides}):
        found = run_checks(include_deployment_checks=False)
    assert not [item for item in found if item.id.startswith("soulsite.")]


def test_sandbox_mode_while_debugging_is_not_a_deploy_warning():
    assert ours(DEBUG=True, SOUL_SANDBOX=True, SOUL_API_KEY="sandbox") == {}
