"""The webhook receiver: a callback is a hint to poll one job set now, never the truth.

What Pixazo posts is undocumented. The callback URL carries an unguessable
per-job-set token, which is what authenticates it; when Standard Webhooks
headers are present the signature must verify too. The answer is fast and
idempotent: duplicates and out-of-order callbacks only move a poll earlier.
"""

from __future__ import annotations

import logging

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from generations.actions import jobsets
from generations.models import JobSet
from soulwire import signing

log = logging.getLogger(__name__)


@csrf_exempt
@login_not_required
@require_POST
def receive(request: HttpRequest, token: str) -> HttpResponse:
    job_set = JobSet.objects.filter(webhook_token=token).only("pk", "webhook_secret").first()
    if job_set is None:
        return HttpResponse(status=404)
    headers = {name: request.headers.get(name) for name in signing.HEADERS}
    msg_id = headers[signing.ID_HEADER]
    # Unsigned callbacks are taken (the token in the URL authenticates them); a signed one
    # must carry all three headers, a fresh timestamp and a matching signature.
    signed = any(headers.values())
    if signed and not signing.verify(job_set.webhook_secret, headers, request.body):
        log.warning("webhook for job set %s: bad signature, ignored", job_set.pk)
        return HttpResponse("invalid signature", status=401, content_type="text/plain")
    jobsets.webhook_hint(token, f"signed, webhook-id {msg_id}" if signed else "unsigned")
    return HttpResponse(status=204)
