"""The webhook receiver: a signed callback is a hint to poll one job set now, never the truth.

The callback URL carries an unguessable per-job-set token, which names the job set; the
Standard Webhooks signature made with that job set's secret authenticates the call
(generations.actions.webhooks checks both and decides what it may cost). The answer is fast
and says only what the sender needs: 404 for an unknown token, 401 for a call that does not
verify (unsigned, wrongly signed, or signed more than five minutes from now), 204 otherwise,
a repeated ``webhook-id`` included, so that a sender does not retry what was taken.
"""

from __future__ import annotations

import logging
import threading
import time

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from generations.actions import webhooks
from soulwire import signing

log = logging.getLogger(__name__)

Verdict = webhooks.Verdict

# The plain-text answer to a refused call, for whoever runs the sender.
REFUSALS = {
    Verdict.UNKNOWN: (404, ""),
    Verdict.MISSING: (401, "Missing signature: send webhook-id, webhook-timestamp and webhook-signature."),
    Verdict.INVALID: (401, "Invalid signature."),
    Verdict.STALE: (401, "Webhook timestamp more than 5 minutes from now: sign each attempt afresh."),
    Verdict.LONG_ID: (400, "webhook-id is too long."),
}


class QuietLog:
    """At most one line per reason every ``seconds`` (in each process), then how many were left out.

    A flood of refused calls must not become a flood of log lines.
    """

    def __init__(self, seconds: float = 10.0):
        self.seconds = seconds
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def warning(self, reason: str, message: str, *args) -> None:
        with self._lock:
            now = time.monotonic()
            if now - self._last.get(reason, -self.seconds) < self.seconds:
                self._held[reason] = self._held.get(reason, 0) + 1
                return
            self._last[reason] = now
            held = self._held.pop(reason, 0)
        suffix = f" ({held} more like it in the last {self.seconds:.0f} s not logged)" if held else ""
        log.warning(message + suffix, *args)


quiet = QuietLog()


@csrf_exempt
@login_not_required
@require_POST
def receive(request: HttpRequest, token: str) -> HttpResponse:
    headers = {name: request.headers.get(name) for name in signing.HEADERS}
    outcome = webhooks.receive(token, headers, lambda: request.body)
    verdict = outcome.verdict
    if verdict.refused:
        # Never the secret, nor the token (half of what authenticates a call).
        where = f"job set {outcome.job_set_id}" if outcome.job_set_id else "an unknown token"
        quiet.warning(
            verdict.name,
            "webhook refused (%s) for %s from %s, webhook-id %r",
            verdict.value,
            where,
            request.META.get("REMOTE_ADDR", "?"),
            outcome.webhook_id[:80],
        )
        status, text = REFUSALS[verdict]
        response = HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")
        # Logged above, at most once in a while: Django's own line for every 4xx would flood the
        # log in a flood of calls, and would carry the path, token and all.
        response._has_been_logged = True
        return response
    log.debug("webhook for job set %s: %s", outcome.job_set_id, verdict.value)
    return HttpResponse(status=204)
