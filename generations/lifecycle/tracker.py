"""The tracker: one loop that sends waiting job sets and polls in-flight ones.

django-q2's scheduler wakes only every ~30 s and a Schedule fires at most once
a minute, so a schedule alone cannot show an image seconds after Soul made it.
Instead the ``track`` task runs this loop for most of a minute: it claims the
job sets whose ``due_at`` has come, polls them concurrently over the client's
pooled session, and sleeps until the next one is due. Only one loop runs at a
time (a lease); when it ends with work left it enqueues its successor, and a
submit wakes it if it is not running. The minute Schedule is only the backstop
that restarts tracking after a crash.

When to poll is learned from how long recent job sets of the same quality and
batch size took (see generations.lifecycle.timing).
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django_q.tasks import async_task

from generations.lifecycle import claims, leases, poll, send, shutdown, stuck
from generations.upstream import gateway

log = logging.getLogger(__name__)

LEASE = "tracker"
LOOP_SECONDS = 50.0  # well inside django-q2's task timeout
# Renewed every second: a killed tracker's lease runs out this soon after it dies.
LEASE_SECONDS = 20.0
# How often the loop looks for due work: a callback makes a job set due at once, and this
# tick is most of what stands between the callback and the poll it brings forward.
TICK = 0.1
# Renewing the lease and claims and looking for abandoned sends need not happen every tick.
HOUSEKEEPING_SECONDS = 1.0
# Sending what waits: a submit also enqueues a send and a finish fills its freed slot at once,
# so the loop's own look at the queue can be less frequent than the tick.
SEND_EVERY = 0.25
# When the cluster is told to stop, how long the loop waits for the requests it has running:
# `make run` must be gone within 10 s, and django-q2 needs a few of them to stop its processes.
STOPPING_WAIT = 3.0


def worker_name() -> str:
    return claims.worker_name()


# --- The loop -------------------------------------------------------------------


def run(max_seconds: float = LOOP_SECONDS, patient: bool = False) -> str:
    """Run the tracker loop if no other is running. Returns what it did, for the task log."""
    if shutdown.requested():
        return "the cluster is stopping"
    holder = worker_name()
    if not _take_lease(holder, patient):
        return "another tracker is running"
    deadline = time.monotonic() + max_seconds
    running: dict[int, Future] = {}
    sending: Future | None = None
    polled = sent = 0
    # One thread sends while the others poll: a slow submit never holds up tracking.
    pool = ThreadPoolExecutor(settings.SOUL_POLL_CONCURRENCY + 1, thread_name_prefix="soul-track")
    try:
        housekept = send_started = 0.0
        while time.monotonic() < deadline and not shutdown.requested():
            if time.monotonic() - housekept >= HOUSEKEEPING_SECONDS:
                if not leases.renew(LEASE, holder, LEASE_SECONDS):
                    log.warning("tracker %s lost its lease; stopping", holder)
                    break
                claims.renew(holder, list(running))
                claims.expire_sends_of_the_dead()
                send.recover_abandoned_sends()
                # A slot given back here is filled by the send below, this very tick.
                stuck.free_stuck_slots()
                housekept = time.monotonic()
            if (sending is None or sending.done()) and time.monotonic() - send_started >= SEND_EVERY:
                if sending is not None:
                    sent += sending.result()
                gateway.probe_if_due()
                # No new send starts after the deadline: the loop must end inside the task timeout.
                sending = pool.submit(_in_thread, send.send_waiting, holder, send.SEND_BATCH, deadline)
                send_started = time.monotonic()
            for pk in [pk for pk, future in running.items() if future.done()]:
                _log_failure(pk, running.pop(pk))
            free = settings.SOUL_POLL_CONCURRENCY - len(running)
            for pk in claims.claim_due(holder, free, exclude=set(running)):
                running[pk] = pool.submit(_in_thread, poll.track, pk, holder)
                polled += 1
            wait = claims.next_due_in()
            if wait is None and not running:
                # A send was started this very tick and may still be running (on
                # PostgreSQL its thread first opens a connection): let it finish, then
                # look again, or the loop would never see it done and never stop.
                wait_for([sending])
                if claims.next_due_in() is None:
                    break  # nothing pending anywhere: stop, no idle polling
            time.sleep(TICK)
        stopping = shutdown.requested()
        # Let what runs finish: each is one bounded request. When the cluster is stopping, only
        # briefly: a request still running after that is cut off with the process, and its
        # job set is recovered like any killed worker's (a poll's claim runs out, a send
        # becomes unconfirmed).
        pending = [future for future in (sending, *running.values()) if future is not None]
        done, _ = wait_for(pending, timeout=STOPPING_WAIT if stopping else None)
        if sending is not None and sending in done:
            sent += sending.result()
        for pk, future in running.items():
            if future in done:
                _log_failure(pk, future)
    finally:
        pool.shutdown(wait=not shutdown.requested(), cancel_futures=True)
        leases.release(LEASE, holder)
    if shutdown.requested():
        return f"sent {sent}, polled {polled}; stopped early: the cluster is stopping"
    # A submit that arrived while we were stopping saw the lease held and did
    # not wake anyone: look once more after releasing it.
    if claims.next_due_in() is not None:
        wake()
    return f"sent {sent}, polled {polled}"


def _take_lease(holder: str, patient: bool) -> bool:
    """Take the tracker lease; a dead holder's lease is taken over rather than waited out.

    A holder on this machine whose process is gone is known dead at once: its
    lease and claims are freed. Elsewhere a holder can only be judged by its
    lease: a live tracker renews it every second. A ``patient`` caller (a cluster
    that just started, perhaps after a crash) waits for an unrenewed lease to
    run out instead of leaving tracking to the next Schedule tick.
    """
    if leases.acquire(LEASE, holder, LEASE_SECONDS):
        return True
    current = leases.holder_of(LEASE)
    if current and claims.dead_here(current):
        log.warning("tracker %s is gone; taking over its lease and claims", current)
        claims.expire_claims_of(current)
        return leases.acquire(LEASE, holder, LEASE_SECONDS, replacing=current)
    if not patient:
        return False
    # Watch the lease: a live holder renews it within a tick; a dead one lets it run out.
    seen = leases.seconds_left(LEASE)
    deadline = time.monotonic() + LEASE_SECONDS + 2
    while seen is not None and time.monotonic() < deadline and not shutdown.requested():
        time.sleep(1.0)
        if leases.acquire(LEASE, holder, LEASE_SECONDS):
            claims.expire_claims_of(current)
            return True
        left = leases.seconds_left(LEASE)
        if left is not None and left > seen:
            return False  # renewed: its holder is alive and tracking
        seen = left
    return leases.acquire(LEASE, holder, LEASE_SECONDS)


def _in_thread(function, *args):
    try:
        return function(*args)
    finally:
        # Worker threads keep their own connection: close it so none leaks.
        connection.close()


def _log_failure(pk: int, future: Future) -> None:
    exc = future.exception()
    if exc is not None:
        log.error("tracking job set %s failed", pk, exc_info=exc)
    close_old_connections()


def wake(after_start: bool = False) -> None:
    """Make sure a tracker loop is running (or about to).

    ``after_start``: a cluster has just started, perhaps after a crash that left
    a lease behind; the tracker it starts waits for such a lease to run out.
    """
    if after_start:
        async_task("generations.tasks.track", True, task_name="track job sets after start")
    elif not leases.is_held(LEASE):
        async_task("generations.tasks.track", task_name="track job sets")


SCHEDULE_NAME = "soulsite: track job sets"  # also created by migration 0002


SCHEDULE_LOCK = "schedule"


def ensure_schedule() -> None:
    """Create or repair the minute backstop Schedule (idempotent, by name)."""
    from django_q.models import Schedule

    with transaction.atomic():
        # Schedule names are not unique: two clusters starting at once on a database
        # without the Schedule would both create it, and it would then fire twice a
        # tick. A lease row serialises them (a row lock on PostgreSQL; SQLite's
        # IMMEDIATE transaction already does).
        leases.lock_row(SCHEDULE_LOCK)
        extra = Schedule.objects.filter(name=SCHEDULE_NAME).order_by("id").values_list("id", flat=True)[1:]
        Schedule.objects.filter(id__in=list(extra)).delete()
        Schedule.objects.update_or_create(
            name=SCHEDULE_NAME,
            defaults={
                "func": "generations.tasks.track",
                "schedule_type": Schedule.MINUTES,
                "minutes": 1,
                "repeats": -1,
            },
        )
