"""The sandbox's answers as (status, headers, body): JSON for the API, PNG for images.

Every error body is JSON ``{"error": "<message>"}``, as the Pixazo gateway answers.
"""

from __future__ import annotations

import json

Response = tuple[int, list[tuple[str, str]], bytes]


def json_response(status: int, payload: object) -> Response:
    body = json.dumps(payload).encode()
    return status, [("Content-Type", "application/json"), ("Cache-Control", "no-store")], body


def error_response(status: int, message: str) -> Response:
    return json_response(status, {"error": message})


def png_response(body: bytes) -> Response:
    # Results and previews are served like a CDN's: cacheable, no key needed.
    return 200, [("Content-Type", "image/png"), ("Cache-Control", "public, max-age=86400")], body


def wrong_method(allowed: tuple[str, ...]) -> Response:
    methods = ", ".join(allowed)
    status, headers, body = error_response(405, f"Method not allowed; use {methods}")
    headers.append(("Allow", methods))
    return status, headers, body


def format_seconds(seconds: float) -> str:
    """``1.0`` -> ``"1"``, ``1.5`` -> ``"1.5"`` (a Retry-After value)."""
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)
