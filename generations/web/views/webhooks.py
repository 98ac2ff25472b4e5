"""The webhook receiver: a callback is a hint to poll one job set now, never the truth.

What Pixazo posts is undocumented. The callback URL carries an unguessable
per-job-set token, which is what authenticates it; when Standard Webhooks
headers are present the signature must verify too. The answer is fast and
idempotent: duplicates and out-of-order callbacks only move a poll earlier.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from generations import services, tracking
from generations.models import Attempt, JobSet

log = logging.getLogger(__name__)

# Standard Webhooks: refuse signatures older (or newer) than this, against replays.
TOLERANCE_SECONDS = 5 * 60


def signing_key(secret: str) -> bytes:
    if secret.startswith("whsec_"):
        return base64.b64decode(secret.removeprefix("whsec_"))
    return secret.encode()


def signature_valid(secret: str, msg_id: str, timestamp: str, body: bytes, header: str, now: float) -> bool:
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent_at) > TOLERANCE_SECONDS:
        return False
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(signing_key(secret), signed, hashlib.sha256).digest()).decode()
    # The header may carry several space-separated signatures ("v1,abc v1,def").
    for candidate in header.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return True
    return False


@csrf_exempt
@login_not_required
@require_POST
def receive(request: HttpRequest, token: str) -> HttpResponse:
    job_set = JobSet.objects.filter(webhook_token=token).only("pk", "webhook_secret").first()
    if job_set is None:
        return HttpResponse(status=404)
    msg_id, timestamp, signature = (
        request.headers.get(name) for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
    )
    signed = msg_id or timestamp or signature
    if signed and not (
        msg_id
        and timestamp
        and signature
        and signature_valid(job_set.webhook_secret, msg_id, timestamp, request.body, signature, time.time())
    ):
        log.warning("webhook for job set %s: bad signature, ignored", job_set.pk)
        return HttpResponse("invalid signature", status=401, content_type="text/plain")
    services.webhook_hint(token)
    Attempt.objects.create(
        job_set_id=job_set.pk,
        kind=Attempt.Kind.WEBHOOK,
        asked="callback received",
        answer=f"signed, webhook-id {msg_id}" if signed else "unsigned",
    )
    tracking.wake()
    return HttpResponse(status=204)
