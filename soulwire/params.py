"""The documented parameter contract of Soul's ``generateSoul`` (one source of truth).

The generate form, the client and the sandbox gateway all validate through
:func:`validate`, so a request the upstream would reject never leaves soulsite
and the sandbox rejects exactly what the upstream does.

Values are checked as they travel in JSON: strings, numbers, booleans and null.
Unknown keys are ignored, as the upstream ignores them (the vendor sample's
``soul_style_id`` was silently dropped), so :func:`validate` only looks at the
names below.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from urllib.parse import urlsplit

# style_id's default, when a request names no style.
from soulwire.contract import GENERAL_STYLE_ID as GENERAL_STYLE_ID

# The style parameter's wire name. The vendor's samples say ``soul_style_id``
# but its parameter table, Higgsfield's own API and the sample response all
# say ``style_id``; keep the name here so it can change in one place.
STYLE_FIELD = "style_id"

SIZES: tuple[str, ...] = (
    "1152x2048",
    "2048x1152",
    "2048x1536",
    "1536x2048",
    "1344x2016",
    "2016x1344",
    "960x1696",
    "1536x1536",
    "1536x1152",
    "1696x960",
    "1152x1536",
    "1088x1632",
    "1632x1088",
)
QUALITIES: tuple[str, ...] = ("720p", "1080p")
BATCH_SIZES: tuple[int, ...] = (1, 4)
SEED_MIN, SEED_MAX = 1, 1_000_000
STRENGTH_MIN, STRENGTH_MAX = 0.0, 1.0
URL_MIN_LENGTH, URL_MAX_LENGTH = 1, 2083
# The longest prompt soulsite sends, in characters (Python's len: code points). The vendor names
# no maximum ("non-empty string"); 2,000 characters hold more than any text encoder of a diffusion
# model reads (T5's 512 tokens, about 2,000 characters of English; CLIP's 77 tokens) and stay under
# the smaller published limits of comparable image APIs (docs/UPSTREAM.md, "The prompt's length").
PROMPT_MAX_LENGTH = 2000
IMAGE_REFERENCE_TYPES: tuple[str, ...] = ("image_url",)

DEFAULT_SIZE = "1536x2048"
DEFAULT_QUALITY = "720p"
DEFAULT_BATCH_SIZE = 1
DEFAULT_STRENGTH = 1.0

_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def parse_size(width_and_height: str) -> tuple[int, int]:
    width, height = width_and_height.split("x")
    return int(width), int(height)


def is_uuid(value: object) -> bool:
    return isinstance(value, str) and bool(_UUID_RE.match(value))


def is_uri(value: object) -> bool:
    """An absolute http(s) URI with a host, 1 to 2083 characters long."""
    if not isinstance(value, str) or not URL_MIN_LENGTH <= len(value) <= URL_MAX_LENGTH:
        return False
    if any(ch.isspace() for ch in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _is_number(value: object) -> bool:
    # JSON booleans decode to bool, which Python counts as int: refuse them.
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, Decimal)):
        return True
    return isinstance(value, float) and math.isfinite(value)


def _on_step(value: float | int | Decimal) -> bool:
    """True when ``value`` is a multiple of 0.01 (allowing float noise)."""
    hundredths = Decimal(str(value)) * 100
    return abs(hundredths - hundredths.to_integral_value()) < Decimal("1e-9")


def _check_strength(value: object) -> str | None:
    if not _is_number(value):
        return "must be a number from 0.0 to 1.0"
    if not STRENGTH_MIN <= float(value) <= STRENGTH_MAX:
        return "must be between 0.0 and 1.0"
    if not _on_step(value):
        return "must be a multiple of 0.01"
    return None


def validate(params: dict) -> dict[str, str]:
    """Check ``params`` against the contract; return ``{name: message}`` per error.

    An empty dict means the upstream would accept the request.
    """
    errors: dict[str, str] = {}

    def present(name: str) -> bool:
        return params.get(name) is not None

    prompt = params.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        errors["prompt"] = "is required and must be non-empty text"
    elif len(prompt) > PROMPT_MAX_LENGTH:
        errors["prompt"] = f"must be at most {PROMPT_MAX_LENGTH:,} characters (this one has {len(prompt):,})"

    size = params.get("width_and_height")
    if size is None:
        errors["width_and_height"] = "is required"
    elif size not in SIZES:
        errors["width_and_height"] = "must be one of " + ", ".join(SIZES)

    if present("enhance_prompt") and not isinstance(params["enhance_prompt"], bool):
        errors["enhance_prompt"] = "must be true or false"

    if present(STYLE_FIELD) and not is_uuid(params[STYLE_FIELD]):
        errors[STYLE_FIELD] = "must be a style's UUID"

    for name in ("style_strength", "custom_reference_strength"):
        if present(name):
            problem = _check_strength(params[name])
            if problem:
                errors[name] = problem

    if present("quality") and params["quality"] not in QUALITIES:
        errors["quality"] = "must be 720p or 1080p"

    if present("seed"):
        seed = params["seed"]
        if isinstance(seed, bool) or not isinstance(seed, int):
            errors["seed"] = f"must be a whole number from {SEED_MIN} to {SEED_MAX:,}, or empty for random"
        elif not SEED_MIN <= seed <= SEED_MAX:
            errors["seed"] = f"must be between {SEED_MIN} and {SEED_MAX:,}"

    if present("custom_reference_id") and not is_uuid(params["custom_reference_id"]):
        errors["custom_reference_id"] = "must be a character's UUID"

    ref_type, ref_url = params.get("image_reference_type"), params.get("image_reference_image_url")
    if ref_type is not None and ref_type not in IMAGE_REFERENCE_TYPES:
        errors["image_reference_type"] = "must be image_url"
    if ref_url is not None and not is_uri(ref_url):
        errors["image_reference_image_url"] = (
            f"must be an http(s) URL of {URL_MIN_LENGTH} to {URL_MAX_LENGTH} characters"
        )
    if ref_type is not None and ref_url is None:
        errors["image_reference_image_url"] = "is required when image_reference_type is given"
    if ref_url is not None and ref_type is None:
        errors["image_reference_type"] = "is required when image_reference_image_url is given"

    batch = params.get("batch_size")
    if batch is not None and (
        isinstance(batch, bool) or not isinstance(batch, int) or batch not in BATCH_SIZES
    ):
        errors["batch_size"] = "must be 1 or 4"

    hook_url, hook_secret = params.get("webhook_url"), params.get("webhook_secret")
    if hook_url is not None and not is_uri(hook_url):
        errors["webhook_url"] = "must be an http(s) URL"
    if hook_url is not None and not (isinstance(hook_secret, str) and hook_secret):
        errors["webhook_secret"] = "is required when webhook_url is given"
    if hook_secret is not None and not isinstance(hook_secret, str):
        errors["webhook_secret"] = "must be text"

    return errors


def describe_errors(errors: dict[str, str]) -> str:
    """One line for an error body or a log: ``seed must be …; quality must be …``."""
    return "; ".join(f"{name} {message}" for name, message in errors.items())
