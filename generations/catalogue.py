"""What soulsite ships with so it works offline: the vendor's prices and the known public styles."""

from decimal import Decimal

# Vendor price table (USD per job set), see SOUL_API.md.
VENDOR_PRICES = {
    ("720p", 1): Decimal("0.15"),
    ("720p", 4): Decimal("0.19"),
    ("1080p", 1): Decimal("0.25"),
    ("1080p", 4): Decimal("0.37"),
}

# Known public Soul styles: (id, name, description).
KNOWN_STYLES = [
    ("464ea177-8d40-4940-8d9d-b438bab269c7", "General", "Soul's default look: balanced, natural light."),
    ("1cb4b936-77bf-4f9a-9039-f3d349a4cdbe", "Realistic", "Photographic realism with true-to-life detail."),
    ("a5f63c3b-70eb-4979-af5e-98c7ee1e18e8", "Giant People", "People at enormous scale in ordinary places."),
    ("b3c8075a-cb4c-42de-b8b3-7099dd2df672", "Creatures", "Fantastic creatures and beasts."),
    ("1fc861ed-5923-41a6-9963-b9f04681dddd", "Medieval", "Castles, armour and candlelight."),
    ("40ff999c-f576-443c-b5b3-c7d1391a666e", "Spotlight", "A single hard light in the dark, stage-like."),
    ("ca4e6ad3-3e93-4e03-81a0-d1722d2c128b", "DigitalCam", "Early-2000s digital camera snapshot."),
    ("6fb3e1f5-d721-4523-ac38-9902f2b2b850", "Library", "Quiet rooms of books, warm and soft."),
    ("d2e8ba04-9935-4dee-8bc4-39ac789746fc", "Subway", "Underground stations and trains."),
    ("1b798b54-03da-446a-93bf-12fcba1050d7", "iPhone", "Casual phone-camera photo."),
    ("ff1ad8a2-94e7-4e70-a12f-e992ca9a0d36", "Quiet luxury", "Understated, expensive calm."),
    (
        "7696fd45-6e67-47d7-b800-096ce21cd449",
        "Sitting on the Street",
        "Street-level candid, seated subjects.",
    ),
]

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
