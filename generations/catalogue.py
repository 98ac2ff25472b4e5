"""What soulsite ships with so it works offline: the vendor's prices and the known public styles."""

from decimal import Decimal

from soulwire.contract import PUBLIC_STYLES

# Vendor price table (USD per job set), see docs/UPSTREAM.md.
VENDOR_PRICES = {
    ("720p", 1): Decimal("0.15"),
    ("720p", 4): Decimal("0.19"),
    ("1080p", 1): Decimal("0.25"),
    ("1080p", 4): Decimal("0.37"),
}

# The known public Soul styles (ids and names are the wire contract's), with our descriptions by name.
_DESCRIPTIONS = {
    "General": "Soul's default look: balanced, natural light.",
    "Realistic": "Photographic realism with true-to-life detail.",
    "Giant People": "People at enormous scale in ordinary places.",
    "Creatures": "Fantastic creatures and beasts.",
    "Medieval": "Castles, armour and candlelight.",
    "Spotlight": "A single hard light in the dark, stage-like.",
    "DigitalCam": "Early-2000s digital camera snapshot.",
    "Library": "Quiet rooms of books, warm and soft.",
    "Subway": "Underground stations and trains.",
    "iPhone": "Casual phone-camera photo.",
    "Quiet luxury": "Understated, expensive calm.",
    "Sitting on the Street": "Street-level candid, seated subjects.",
}
# (id, name, description), General first.
KNOWN_STYLES = [(style_id, name, _DESCRIPTIONS.get(name, "")) for style_id, name in PUBLIC_STYLES]

PRICES_FROM = "2025-01-01"


def install(Price, Style) -> None:
    """Add the vendor prices and known styles where missing (idempotent).

    Takes the model classes so a data migration can pass its historical ones.
    """
    for (quality, batch_size), amount in VENDOR_PRICES.items():
        Price.objects.get_or_create(
            quality=quality, batch_size=batch_size, effective_from=PRICES_FROM, defaults={"amount": amount}
        )
    for position, (style_id, name, description) in enumerate(KNOWN_STYLES):
        Style.objects.get_or_create(
            id=style_id, defaults={"name": name, "description": description, "position": position}
        )
