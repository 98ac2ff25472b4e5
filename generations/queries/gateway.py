"""The gateway's state as pages show it."""

from __future__ import annotations

from generations.models import GatewayState


def paused() -> GatewayState | None:
    """The gateway's state while sending is paused (for the banner); None while it sends normally."""
    return GatewayState.objects.filter(pk=1, paused=True).first()
