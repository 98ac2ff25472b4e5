"""Site-wide state of the gateway: paused sending, and a concurrency limit learned from it.

A 401 (bad key) or 402/403 (no credits, not allowed) would fail every request
that follows, so sending pauses and admins see a banner until one resumes it.
For a 401 a free probe (a poll of a job set that does not exist: the key is
checked before the id) resumes by itself once the key works again. For 402/403
only a paid submit could show that credits are back, so soulsite does not spend
money to find out: an admin resumes.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from generations.models import GatewayState
from generations.upstream import client as soul

log = logging.getLogger(__name__)

PROBE_EVERY = timedelta(seconds=60)
CONCURRENCY_HINT_FOR = timedelta(minutes=10)
NO_SUCH_JOB_SET = "00000000-0000-0000-0000-000000000000"


def state() -> GatewayState:
    return GatewayState.get()


def is_paused() -> bool:
    return GatewayState.objects.filter(pk=1, paused=True).exists()


def pause(exc: soul.SoulError) -> None:
    """Stop sending after the gateway refused our key or our account."""
    GatewayState.get()
    updated = GatewayState.objects.filter(pk=1, paused=False).update(
        paused=True,
        paused_status=exc.status,
        paused_reason=exc.message,
        paused_at=timezone.now(),
    )
    if updated:
        log.error("sending paused: the gateway answered %s: %s", exc.status, exc.message)


def resume() -> None:
    GatewayState.objects.filter(pk=1).update(
        paused=False, paused_reason="", paused_status=None, paused_at=None
    )
    log.info("sending resumed")


def probe_if_due() -> bool:
    """While paused for a bad key, check the key for free once a minute. True if resumed."""
    now = timezone.now()
    current = state()
    if not current.paused or current.paused_status != 401:
        return False
    if current.last_probe_at and now - current.last_probe_at < PROBE_EVERY:
        return False
    GatewayState.objects.filter(pk=1).update(last_probe_at=now)
    try:
        soul.get_client().poll(NO_SUCH_JOB_SET)
    except soul.NotFound:
        pass  # the key was accepted; the id, as expected, was not
    except soul.SoulError as exc:
        log.info("probe: the gateway still refuses (%s)", exc.message)
        return False
    resume()
    return True


def max_in_flight() -> int:
    """The cap in force: SOUL_MAX_IN_FLIGHT, lowered for a while after a concurrency answer."""
    cap = settings.SOUL_MAX_IN_FLIGHT
    current = GatewayState.objects.filter(pk=1).values("concurrency_limit", "concurrency_limit_until").first()
    if current and current["concurrency_limit"] and current["concurrency_limit_until"] > timezone.now():
        return max(1, min(cap, current["concurrency_limit"]))
    return cap


def note_concurrency_limit(in_flight_elsewhere: int) -> None:
    """The gateway said it is at its limit with ``in_flight_elsewhere`` of ours running."""
    GatewayState.get()
    GatewayState.objects.filter(pk=1).update(
        concurrency_limit=max(1, in_flight_elsewhere),
        concurrency_limit_until=timezone.now() + CONCURRENCY_HINT_FOR,
    )
