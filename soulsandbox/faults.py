"""The faults the sandbox injects into submit and poll answers, and the answers tests script.

Checked in this order for each submit or poll: the key (401, see :mod:`soulsandbox.app`),
then a scripted answer if a test queued one (nothing processed), then one random draw
picks 500 / 429 / 503 (cumulative rates, nothing processed), then validation (400), then
the concurrency cap (400, Higgsfield's wording), then the request is processed, and a
second draw may delay the answer (``slow``) or close the connection without one
(``drop``). A third draw may make a submitted job set never finish. Every injected fault
is counted in ``stats()["faults"]`` under one of :data:`FAULT_KINDS`.
"""

from __future__ import annotations

from dataclasses import dataclass

from soulsandbox.config import SandboxConfig
from soulsandbox.responses import Response, error_response, format_seconds, json_response
from soulwire.contract import POLL_PATH, SUBMIT_PATH

FAULT_KINDS = ("500", "429", "503", "slow", "drop", "concurrency", "poll_404", "scripted")

ERROR_500 = "An unexpected error occurred, please try again later"
ERROR_429 = "Rate limit exceeded, please retry later"
ERROR_503 = "Model is temporarily unavailable"
CONCURRENCY_DETAIL = "Maximum number of concurrent requests ({}) has been reached"

# The endpoints faults and scripts apply to, by the name ``POST /_sandbox/script`` uses.
FAULTABLE_PATHS = {"submit": SUBMIT_PATH, "poll": POLL_PATH}


@dataclass(frozen=True)
class FaultRoll:
    """What the fault draws chose for one submit or poll request."""

    before: str | None = None  # "500", "429" or "503": answered without processing
    after: str | None = None  # "slow" or "drop": processed, then answered late or not at all
    never_finish: bool = False  # a submit's job set stays in progress


class ConcurrencyLimitReached(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(CONCURRENCY_DETAIL.format(limit))
        self.limit = limit


def choose(config: SandboxConfig, before_draw: float, after_draw: float, never_draw: float) -> FaultRoll:
    """The faults three uniform draws from [0, 1) pick under ``config``'s rates."""
    before = None
    threshold = 0.0
    for kind, rate in (
        ("500", config.error_rate),
        ("429", config.rate_limit_rate),
        ("503", config.unavailable_rate),
    ):
        threshold += rate
        if before_draw < threshold:
            before = kind
            break
    after = None
    if after_draw < config.drop_rate:
        after = "drop"
    elif after_draw < config.drop_rate + config.slow_rate:
        after = "slow"
    return FaultRoll(before, after, never_draw < config.never_finish_rate)


def injected_response(kind: str, retry_after: float) -> Response:
    """The answer of a "500", "429" or "503" fault, in the gateway's words."""
    if kind == "429":
        status, headers, body = error_response(429, ERROR_429)
        headers.append(("Retry-After", format_seconds(retry_after)))
        return status, headers, body
    return error_response(500, ERROR_500) if kind == "500" else error_response(503, ERROR_503)


def parse_script(body: object) -> tuple[str, list[dict]]:
    """(path, answers) of ``{"endpoint": "submit"|"poll", "answers": [{"status", "body", "headers"}]}``.

    Raises ValueError when the body is not of that shape.
    """
    if not isinstance(body, dict) or body.get("endpoint") not in FAULTABLE_PATHS:
        raise ValueError('"endpoint" must be "submit" or "poll"')
    answers = body.get("answers")
    if not isinstance(answers, list) or not all(
        isinstance(a, dict) and isinstance(a.get("status"), int) and 200 <= a["status"] <= 599
        for a in answers
    ):
        raise ValueError('"answers" must be a list of objects with an HTTP "status"')
    return FAULTABLE_PATHS[body["endpoint"]], answers


def scripted_response(answer: dict) -> Response:
    """The answer a test queued: its status, its JSON body and any extra headers."""
    headers = [(str(k), str(v)) for k, v in (answer.get("headers") or {}).items()]
    status, base_headers, payload = json_response(answer["status"], answer.get("body", {}))
    return status, base_headers + headers, payload
