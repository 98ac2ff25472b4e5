"""How the API's sizes are shown to people: as a common ratio, a shape and pixels."""

from __future__ import annotations

from soulwire import params

COMMON_RATIOS = ((1, 1), (2, 3), (3, 2), (3, 4), (4, 3), (9, 16), (16, 9))


def size_parts(size: str) -> tuple[str, str]:
    """('3:4', 'portrait') for '1536x2048': the nearest common ratio (960x1696 is about 9:16)."""
    width, height = params.parse_size(size)
    ratio = min(COMMON_RATIOS, key=lambda r: abs(r[0] / r[1] - width / height))
    shape = "square" if width == height else ("landscape" if width > height else "portrait")
    return f"{ratio[0]}:{ratio[1]}", shape


def size_choices() -> list[tuple[str, str]]:
    """Every size, tallest first, labelled '9:16 portrait · 1152×2048'."""
    ordered = sorted(params.SIZES, key=lambda size: (lambda w, h: (w / h, w))(*params.parse_size(size)))
    return [(size, "{} {} · ".format(*size_parts(size)) + size.replace("x", "×")) for size in ordered]
