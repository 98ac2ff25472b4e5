"""Named leases: a lock a worker holds until it expires, claimed by a conditional UPDATE.

A killed worker never releases its lease; it simply runs out and the next
worker takes it over. Works the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from generations.models import Lease


def acquire(name: str, holder: str, seconds: float, replacing: str | None = None) -> bool:
    """Take the lease if it is free, expired, already ours, or held by ``replacing`` (known dead)."""
    now = timezone.now()
    until = now + timedelta(seconds=seconds)
    free = Q(holder="") | Q(holder=holder) | Q(expires_at__lt=now) | Q(expires_at__isnull=True)
    if replacing:
        free |= Q(holder=replacing)
    if Lease.objects.filter(free, name=name).update(holder=holder, expires_at=until) == 1:
        return True
    if not Lease.objects.filter(name=name).exists():
        try:
            with transaction.atomic():
                Lease.objects.create(name=name, holder=holder, expires_at=until)
            return True
        except IntegrityError:
            return False  # another worker created it first
    return False


def renew(name: str, holder: str, seconds: float) -> bool:
    until = timezone.now() + timedelta(seconds=seconds)
    return Lease.objects.filter(name=name, holder=holder).update(expires_at=until) == 1


def release(name: str, holder: str) -> None:
    Lease.objects.filter(name=name, holder=holder).update(holder="", expires_at=None)


def is_held(name: str) -> bool:
    return Lease.objects.filter(name=name, expires_at__gte=timezone.now()).exclude(holder="").exists()


def holder_of(name: str) -> str | None:
    return Lease.objects.filter(name=name).exclude(holder="").values_list("holder", flat=True).first()


def seconds_left(name: str) -> float | None:
    """Seconds until the lease expires; None when nobody holds it."""
    expires_at = (
        Lease.objects.filter(name=name).exclude(holder="").values_list("expires_at", flat=True).first()
    )
    if expires_at is None:
        return None
    return (expires_at - timezone.now()).total_seconds()


def lock_row(name: str) -> None:
    """Lock the lease row ``name`` until the surrounding transaction ends (see ``Lease.lock_row``)."""
    Lease.lock_row(name)
