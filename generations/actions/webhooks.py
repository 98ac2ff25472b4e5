"""A callback from the gateway: checked as Standard Webhooks asks, then a hint to poll one job set now.

The poll stays the truth; a callback only moves a job set's next poll earlier. What a
flood of calls may cost is bounded here (docs/DECISIONS.md, Webhooks):

- a token that cannot be one costs nothing; an unknown one costs one indexed read;
- a call that does not verify (unsigned, wrongly signed, stale) writes nothing, except one
  refused attempt per job set per ``REFUSAL_NOTE_GAP``, so an admin sees why on the job set;
- a repeated ``webhook-id``, a job set with nothing to poll and one whose poll is due
  already write nothing;
- a callback that does move a poll writes three small rows, and moves it no sooner than
  ``HINT_GAP`` after the last one that did: however many arrive, that job set is polled at
  most once a ``HINT_GAP`` because of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Subquery
from django.utils import timezone

from generations.lifecycle import attempts, tracker
from generations.models import Attempt, JobSet, WebhookDelivery
from soulwire import signing

# How long a taken webhook-id is remembered: longer than Standard Webhooks senders keep
# retrying one message (about a day and a half at most), so a retry is never taken twice.
ID_MEMORY = timedelta(days=2)
# Callbacks move one job set's next poll no closer together than this.
HINT_GAP = timedelta(seconds=1)
# At most one refused callback is noted per job set in this time (the log says the rest).
REFUSAL_NOTE_GAP = timedelta(hours=1)
# Expired webhook-ids deleted by one taken callback, at most (each adds one).
PRUNE_BATCH = 100
# The longest webhook-id that can be remembered (a longer one is refused, after it verifies).
MAX_ID_LENGTH = WebhookDelivery._meta.get_field("webhook_id").max_length
# What a token can look like (secrets.token_urlsafe(32) makes 43 such characters): anything
# else is refused before the database is asked.
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{20,64}")


class Verdict(Enum):
    """What became of a call; the view answers by it."""

    UNKNOWN = "unknown token"  # no job set has this token (or it cannot be a token)
    MISSING = "missing signature"  # one of the three Standard Webhooks headers is absent
    INVALID = "invalid signature"
    STALE = "stale timestamp"  # signed more than five minutes from now: a replay, or a wrong clock
    LONG_ID = "webhook-id too long"
    DUPLICATE = "duplicate webhook-id"  # taken before: nothing to do again
    NOTHING_TO_POLL = "nothing to poll"  # not sent yet, or finished
    ALREADY_DUE = "poll already due"  # a poll is coming anyway (or a worker is polling it now)
    TAKEN = "next poll moved"

    @property
    def refused(self) -> bool:
        return self in REFUSED


REFUSED = frozenset({Verdict.UNKNOWN, Verdict.MISSING, Verdict.INVALID, Verdict.STALE, Verdict.LONG_ID})
_BY_PROBLEM = {
    signing.MISSING: Verdict.MISSING,
    signing.INVALID: Verdict.INVALID,
    signing.STALE: Verdict.STALE,
}


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    job_set_id: int | None = None
    webhook_id: str = ""


def receive(token: str, headers: Mapping[str, str | None], body: Callable[[], bytes]) -> Outcome:
    """Check one callback for ``token`` and, if it verifies and is new, poll that job set soon.

    ``headers``: the request's headers (at least the three Standard Webhooks ones, any case);
    ``body``: reads the raw body, only once the token is known.
    """
    headers = {name.lower(): value for name, value in headers.items()}
    msg_id = headers.get(signing.ID_HEADER) or ""
    if not TOKEN_SHAPE.fullmatch(token):
        return Outcome(Verdict.UNKNOWN, webhook_id=msg_id)
    now = timezone.now()
    # One indexed read tells all this call needs: the secret and, for after it verifies,
    # whether the id was taken, when a callback last moved the poll, whether a refusal was noted.
    deliveries = WebhookDelivery.objects.filter(job_set=OuterRef("pk"))
    row = (
        JobSet.objects.filter(webhook_token=token)
        .annotate(
            seen=Exists(deliveries.filter(webhook_id=msg_id[:MAX_ID_LENGTH])),
            last_hint=Subquery(deliveries.order_by("-received_at").values("received_at")[:1]),
            refusal_noted=Exists(
                Attempt.objects.filter(
                    job_set=OuterRef("pk"),
                    kind=Attempt.Kind.WEBHOOK,
                    ok=False,
                    at__gte=now - REFUSAL_NOTE_GAP,
                )
            ),
        )
        .values("pk", "webhook_secret", "status", "due_at", "seen", "last_hint", "refusal_noted")
        .first()
    )
    if row is None:
        return Outcome(Verdict.UNKNOWN, webhook_id=msg_id)
    pk = row["pk"]
    problem = signing.problem(row["webhook_secret"], headers, body())
    if problem:
        verdict = _BY_PROBLEM[problem]
        if not row["refusal_noted"]:
            _note_refused(pk, verdict, msg_id)
        return Outcome(verdict, pk, msg_id)
    if len(msg_id) > MAX_ID_LENGTH:
        return Outcome(Verdict.LONG_ID, pk, msg_id)
    if row["seen"]:
        return Outcome(Verdict.DUPLICATE, pk, msg_id)
    if row["status"] not in JobSet.POLLED:
        return Outcome(Verdict.NOTHING_TO_POLL, pk, msg_id)
    poll_at = max(now, row["last_hint"] + HINT_GAP) if row["last_hint"] else now
    if row["due_at"] is None or row["due_at"] <= poll_at:
        return Outcome(Verdict.ALREADY_DUE, pk, msg_id)
    with transaction.atomic():
        try:
            with transaction.atomic():
                WebhookDelivery.objects.create(job_set_id=pk, webhook_id=msg_id, received_at=now)
        except IntegrityError:  # the same message, taken by another web worker a moment ago
            return Outcome(Verdict.DUPLICATE, pk, msg_id)
        JobSet.objects.filter(pk=pk, status__in=JobSet.POLLED, due_at__gt=poll_at).update(due_at=poll_at)
        when = "now" if poll_at == now else f"in {(poll_at - now).total_seconds():.1f} s"
        attempts.note(pk, Attempt.Kind.WEBHOOK, "callback received", f"webhook-id {msg_id}; next poll {when}")
        _prune(now)
    tracker.wake()
    return Outcome(Verdict.TAKEN, pk, msg_id)


def _note_refused(pk: int, verdict: Verdict, msg_id: str) -> None:
    """On the job set's history (never the secret); ok=False, so it does not count as a callback seen."""
    Attempt.objects.create(
        job_set_id=pk,
        kind=Attempt.Kind.WEBHOOK,
        ok=False,
        asked="callback refused",
        answer=f"{verdict.value}; webhook-id {msg_id[:80]!r}; further refusals this hour are only logged",
    )


def _prune(now) -> None:
    """Forget webhook-ids older than ID_MEMORY, a bounded batch at a time."""
    expired = WebhookDelivery.objects.filter(received_at__lt=now - ID_MEMORY).values_list("pk", flat=True)
    old = list(expired[:PRUNE_BATCH])
    if old:
        WebhookDelivery.objects.filter(pk__in=old).delete()
