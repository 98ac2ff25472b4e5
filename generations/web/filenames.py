"""Names for downloaded images: ``<prompt slug>-<seed>-<n>.<ext>``, safe on every file system.

A name is read by people sorting a folder, so it starts with the prompt; the seed and the image's
number make it tell one image of a batch from another. Only ASCII letters, digits and hyphens are
used (no path separator, no dot run, nothing a zip tool or Windows refuses), and the slug is cut
at a word boundary so a 2,000-character prompt still gives a short name.
"""

from __future__ import annotations

import re
import unicodedata

SLUG_MAX = 60  # characters of the prompt's slug; the whole name stays well under 100
FALLBACK = "image"  # a prompt with no ASCII letter or digit (all emoji, say, or all CJK)
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_NOT_EXTENSION = re.compile(r"[^a-z0-9]")


def slug(prompt: str, max_length: int = SLUG_MAX) -> str:
    """``"A Cat, on the mat!"`` -> ``"a-cat-on-the-mat"``; accents dropped (é -> e), the rest removed."""
    ascii_text = unicodedata.normalize("NFKD", prompt).encode("ascii", "ignore").decode("ascii")
    text = _NOT_SLUG.sub("-", ascii_text.lower()).strip("-")
    if len(text) > max_length:
        cut = text[: max_length + 1]
        # Cut at the last whole word when there is one; a single long word is cut where it must be.
        text = cut.rsplit("-", 1)[0] if "-" in cut else text[:max_length]
    return text.strip("-") or FALLBACK


def image_name(prompt: str, seed: int | None, number: int, extension: str, suffix: str = "") -> str:
    """``<slug>-<seed>-<number>[-suffix].<ext>``; "random" stands for a seed nobody reported."""
    ext = _NOT_EXTENSION.sub("", extension.lower())[:5] or "bin"
    tail = f"-{suffix}" if suffix else ""
    return f"{slug(prompt)}-{seed if seed is not None else 'random'}-{number}{tail}.{ext}"


class UniqueNames:
    """Hands out each name once: a second image with the same prompt, seed and number gets "-2"."""

    def __init__(self) -> None:
        self._taken: set[str] = set()

    def __call__(self, name: str) -> str:
        stem, dot, ext = name.rpartition(".")
        candidate, n = name, 1
        # Compared without case: macOS and Windows file systems would merge "A.png" and "a.png".
        while candidate.lower() in self._taken:
            n += 1
            candidate = f"{stem}-{n}{dot}{ext}"
        self._taken.add(candidate.lower())
        return candidate
