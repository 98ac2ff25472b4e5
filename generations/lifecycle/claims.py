"""Claims: which worker holds a job set, until when. The one place that takes and lets go of them.

A claim is two columns on the job set (``claimed_by``, ``claimed_until``) written by
a conditional UPDATE, on SQLite and PostgreSQL alike: the row count says who won,
so two workers never hold one job set. A claim expires, so a killed worker's job
sets are taken over (docs/DECISIONS.md, "Claims by conditional UPDATE").
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from generations.models import JobSet

Status = JobSet.Status

# A poll claim is renewed by the tracker every second, so it can be short: a
# killed worker's job sets are taken over within this many seconds.
CLAIM_SECONDS = 20


def worker_name() -> str:
    """A claim holder's name: this machine, this process and a tag of its own (``host:pid:tag``)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def dead_here(holder: str) -> bool:
    """True when ``holder`` names a process on this machine that is gone (elsewhere: never known)."""
    hostname, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if hostname != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    # Killed but not yet reaped (its parent died too): a zombie holds nothing.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return False


def send_claim_seconds() -> float:
    # A send is one request: it may take the whole timeout, plus a margin.
    return settings.SOUL_CONNECT_TIMEOUT + settings.SOUL_READ_TIMEOUT + 30


def _unclaimed(now: datetime) -> Q:
    return Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)


# --- Taking ---------------------------------------------------------------------------


def claim_to_send(pk: int, worker: str, now: datetime) -> bool:
    """Move a waiting job set to sending, held by ``worker`` for the whole request."""
    return bool(
        JobSet.objects.filter(pk=pk, status=Status.WAITING).update(
            status=Status.SENDING,
            sent_at=now,
            send_attempts=F("send_attempts") + 1,
            claimed_by=worker,
            claimed_until=now + timedelta(seconds=send_claim_seconds()),
        )
    )


def claim_due(worker: str, limit: int, exclude: set[int] = frozenset()) -> list[int]:
    """Claim up to ``limit`` polled job sets whose next check has come.

    Each claim is a conditional UPDATE, so two workers never hold one job set;
    a claim expires, so a killed worker's job sets are taken over.
    """
    if limit <= 0:
        return []
    now = timezone.now()
    due = JobSet.objects.filter(_unclaimed(now), status__in=JobSet.POLLED, due_at__lte=now)
    candidates = list(due.exclude(pk__in=exclude).order_by("due_at").values_list("pk", flat=True)[:limit])
    claimed = []
    until = now + timedelta(seconds=CLAIM_SECONDS)
    for pk in candidates:
        if JobSet.objects.filter(_unclaimed(now), pk=pk, due_at__lte=now).update(
            claimed_by=worker, claimed_until=until
        ):
            claimed.append(pk)
    return claimed


def renew(worker: str, pks: list[int]) -> None:
    """Keep holding these job sets (the tracker renews its claims every second)."""
    if pks:
        until = timezone.now() + timedelta(seconds=CLAIM_SECONDS)
        JobSet.objects.filter(pk__in=pks, claimed_by=worker, status__in=JobSet.IN_FLIGHT).update(
            claimed_until=until
        )


# --- Letting go ----------------------------------------------------------------------------


def release(job_sets: QuerySet[JobSet], **changes) -> int:
    """Write ``changes`` to these job sets and let go of their claims, in one UPDATE.

    Returns how many rows changed (a condition in ``job_sets`` may match none).
    """
    return job_sets.update(**changes, claimed_by="", claimed_until=None)


def expire_claims_of(holder: str | None) -> None:
    """A dead worker's claims run out now, so others take its job sets over.

    Expired rather than cleared: an abandoned send is recognised by an expired claim.
    """
    if holder:
        past = timezone.now() - timedelta(seconds=1)
        JobSet.objects.filter(claimed_by=holder, claimed_until__gt=past).update(claimed_until=past)


def expire_sends_of_the_dead() -> int:
    """Sends held by a process of this machine that is gone run out now; how many holders were.

    A send is claimed for its whole timeout plus a margin (over half a minute by default), and
    a killed sender never lets go: its job set would hold a slot of the in-flight cap until
    then. A dead tracker's claims are expired when its lease is taken over; this does the
    same for the sends of a killed ``send_waiting`` task.
    """
    holders = set(
        JobSet.objects.filter(status=Status.SENDING, claimed_until__gte=timezone.now())
        .values_list("claimed_by", flat=True)
        .distinct()
    )
    dead = [holder for holder in holders if holder and dead_here(holder)]
    for holder in dead:
        expire_claims_of(holder)
    return len(dead)


def abandoned_sends() -> QuerySet[JobSet]:
    """Job sets a worker claimed to send and never let go of (it was killed mid-send)."""
    return JobSet.objects.filter(status=Status.SENDING, claimed_until__lt=timezone.now())


# --- When work is due --------------------------------------------------------------------------


def next_due_in(now=None) -> float | None:
    """Seconds until some job set needs a worker (0 if one is due), None if none is pending."""
    now = now or timezone.now()
    pending = JobSet.objects.filter(status__in=JobSet.SCHEDULED)
    due_at = pending.filter(due_at__isnull=False).order_by("due_at").values_list("due_at", flat=True).first()
    if due_at is None:
        return 0.0 if JobSet.objects.filter(status=Status.SENDING).exists() else None
    return max(0.0, (due_at - now).total_seconds())
