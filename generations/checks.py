"""System checks that `manage.py check --deploy` runs: production without what it needs to work.

Registered in ``GenerationsConfig.ready`` with ``deploy=True``, so a developer's plain
`manage.py check` stays quiet about the sandbox they meant to use.
"""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Warning


def production_gateway(app_configs, **kwargs) -> list[Warning]:
    """Warn when production would not reach the real gateway, or the gateway could not reach it."""
    problems = []
    if not settings.SOUL_API_KEY:
        problems.append(
            Warning(
                "No Pixazo subscription key is set: every request to the gateway will be refused.",
                hint="Set SOUL_API_KEY to your Pixazo subscription key.",
                id="soulsite.W001",
            )
        )
    elif settings.SOUL_SANDBOX and not settings.DEBUG:
        # Sandbox mode is on when no key is set (or SOUL_SANDBOX=1): right on a laptop, wrong here.
        problems.append(
            Warning(
                "soulsite runs in sandbox mode with DEBUG off: it talks to the built-in stand-in "
                "gateway, so no image is really made and nothing is really charged.",
                hint="Set SOUL_API_KEY to your Pixazo subscription key and leave SOUL_SANDBOX unset "
                "(sandbox mode is on when no key is set, or when SOUL_SANDBOX=1).",
                id="soulsite.W002",
            )
        )
    if not settings.SOUL_PUBLIC_URL:
        problems.append(
            Warning(
                "No public address is set, so the gateway cannot reach this site: it sends no "
                "webhooks (finished images are found only by polling, later) and uploaded "
                "reference images are refused.",
                hint="Set SOUL_PUBLIC_URL to the address the internet reaches this site at, "
                "e.g. https://soul.example.com.",
                id="soulsite.W003",
            )
        )
    return problems
