"""The styles list the sandbox serves: the contract's known public styles, with its own blurbs.

The ids and names are the contract's (:data:`soulwire.contract.PUBLIC_STYLES`); the
descriptions are the sandbox's own, and each preview is a swatch drawn by :mod:`render`.
"""

from __future__ import annotations

import re

from soulwire.contract import PUBLIC_STYLES

# Descriptions by style name (the sandbox's own words, not the gateway's).
_DESCRIPTIONS = {
    "General": "Balanced everyday look; the default when no style is chosen.",
    "Realistic": "True-to-life photography with natural light.",
    "Giant People": "People towering over a miniature world.",
    "Creatures": "Fantastic beasts and creature companions.",
    "Medieval": "Castles, armour and candlelit halls.",
    "Spotlight": "A single hard spotlight on a dark stage.",
    "DigitalCam": "Early-2000s digital camera snapshot with flash.",
    "Library": "Warm reading rooms lined with old books.",
    "Subway": "Underground platforms under fluorescent light.",
    "iPhone": "Casual phone photo, candid framing.",
    "Quiet luxury": "Understated, expensive-looking calm.",
    "Sitting on the Street": "Street-level portrait on the kerb.",
}

# (id, name, description), in the contract's order (General first).
STYLES: tuple[tuple[str, str, str], ...] = tuple(
    (style_id, name, _DESCRIPTIONS.get(name, "")) for style_id, name in PUBLIC_STYLES
)
_NAMES = {style_id: name for style_id, name, _ in STYLES}

# Where a style's preview swatch is served (no key needed, like a CDN).
SWATCH_RE = re.compile(r"^/_sandbox/styles/([0-9a-f-]{36})\.png$")


def style_name(style_id: str) -> str | None:
    """The name of a style the sandbox serves, or None for an unknown id."""
    return _NAMES.get(style_id)


def catalogue(base_url: str) -> list[dict]:
    """The styles endpoint's answer: ``[{"id", "name", "description", "preview_url"}]``."""
    return [
        {
            "id": style_id,
            "name": name,
            "description": description,
            "preview_url": f"{base_url}/_sandbox/styles/{style_id}.png",
        }
        for style_id, name, description in STYLES
    ]
