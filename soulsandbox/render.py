"""Deterministic stand-in images for the sandbox gateway (Pillow only, no Django).

The same (prompt, seed, job index, size) always gives byte-identical PNG bytes, so
tests can compare downloads and a seed replays exactly as it would upstream. The
scene (gradient and soft shapes) is drawn at a small fixed scale and resized up,
which keeps a 2048x1536 image fast and makes the preview a faithful miniature of
the full-size image; only the text is drawn at the output size, so it stays sharp.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import random
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFilter, ImageFont

PREVIEW_LONGEST_SIDE = 384
SWATCH_SIZE = 256
# The longest side of the low-resolution scene; larger only costs time, the
# shapes are blurred anyway.
_SCENE_LONGEST_SIDE = 192
_MAX_TEXT_LINES = 6
# More characters than six lines hold at any size drawn: longer text is cut before it is measured,
# so drawing costs the same for a prompt of 700 characters as for one of a million.
_MAX_TEXT_CHARS = 700
_RGB = tuple[int, int, int]


def preview_size(width: int, height: int, longest: int = PREVIEW_LONGEST_SIDE) -> tuple[int, int]:
    """The size of a preview: longest side ``longest``, same aspect ratio."""
    scale = longest / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


# Results are drawn ahead while their job sets run (see soulsandbox.state.SandboxState.paint_ahead):
# room for both images of a few dozen job sets of four in flight, a few tens of MB at most.
@lru_cache(maxsize=256)
def render_png(prompt: str, seed: int, index: int, width: int, height: int) -> bytes:
    """PNG bytes of the image for one job: a scene from the prompt's hash, the prompt on top."""
    rng = _rng("job", prompt, seed, index)
    image = _scene(rng, width, height)
    draw = ImageDraw.Draw(image)
    _draw_text_block(draw, prompt, width, height)
    _draw_caption(draw, f"seed {seed} \u00b7 #{index + 1}", width, height)
    return _png(image)


def result_png(applied: dict, index: int, kind: str) -> bytes:
    """The PNG of one job's result, ``kind`` "raw" (full size) or "min" (the preview).

    ``applied`` is the job set's ``input_params`` (prompt, seed, width, height).
    """
    width, height = applied["width"], applied["height"]
    if kind == "min":
        width, height = preview_size(width, height)
    return render_png(applied["prompt"], applied["seed"], index, width, height)


@lru_cache(maxsize=64)
def render_swatch(style_id: str, name: str, size: int = SWATCH_SIZE) -> bytes:
    """PNG bytes of a style's preview: a swatch from the style id with its name on it."""
    image = _scene(_rng("style", style_id), size, size)
    _draw_text_block(ImageDraw.Draw(image), name, size, size)
    return _png(image)


def _rng(*parts: object) -> random.Random:
    # A hash rather than Python's str hash, which is salted per process.
    digest = hashlib.sha256("\x00".join(str(part) for part in parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:16], "big"))


def _colour(hue: float, saturation: float, value: float) -> _RGB:
    red, green, blue = colorsys.hsv_to_rgb(hue % 1.0, saturation, value)
    return round(red * 255), round(green * 255), round(blue * 255)


def _scene(rng: random.Random, width: int, height: int) -> Image.Image:
    """A two-colour gradient with soft circles and rectangles, resized up to ``width`` x ``height``."""
    small = preview_size(width, height, _SCENE_LONGEST_SIDE)
    hue = rng.random()
    start = _colour(hue, 0.55 + 0.3 * rng.random(), 0.35 + 0.3 * rng.random())
    end = _colour(hue + 0.25 + 0.25 * rng.random(), 0.5 + 0.4 * rng.random(), 0.6 + 0.35 * rng.random())
    mask = Image.linear_gradient("L")
    if rng.random() < 0.5:
        mask = mask.transpose(Image.Transpose.ROTATE_90)
    background = Image.composite(
        Image.new("RGB", small, end), Image.new("RGB", small, start), mask.resize(small)
    )
    shapes = Image.new("RGBA", small, (0, 0, 0, 0))
    _draw_shapes(ImageDraw.Draw(shapes), rng, hue, small)
    shapes = shapes.filter(ImageFilter.GaussianBlur(max(small) / 60))
    scene = Image.alpha_composite(background.convert("RGBA"), shapes).convert("RGB")
    return scene.resize((width, height), Image.Resampling.BILINEAR)


def _draw_shapes(draw: ImageDraw.ImageDraw, rng: random.Random, hue: float, size: tuple[int, int]) -> None:
    width, height = size
    for _ in range(4 + int(rng.random() * 5)):
        colour = _colour(hue + rng.random() * 0.6 - 0.3, 0.3 + 0.6 * rng.random(), 0.5 + 0.5 * rng.random())
        fill = (*colour, 90 + int(rng.random() * 110))
        radius = (0.08 + 0.22 * rng.random()) * min(width, height)
        x, y = rng.random() * width, rng.random() * height
        box = (x - radius, y - radius, x + radius, y + radius)
        if rng.random() < 0.6:
            draw.ellipse(box, fill=fill)
        else:
            draw.rounded_rectangle(box, radius=radius / 4, fill=fill)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=max(8, size))


def _draw_text_block(draw: ImageDraw.ImageDraw, text: str, width: int, height: int) -> None:
    """``text`` wrapped and centred, white with a dark outline so it reads on any colour."""
    font_size = max(10, min(width, height) // 16)
    font = _font(font_size)
    margin = width // 12
    text = " ".join(text.split())
    if len(text) > _MAX_TEXT_CHARS:
        text = text[:_MAX_TEXT_CHARS] + "\u2026"
    lines = _wrap(draw, text, font, width - 2 * margin)
    line_height = round(font_size * 1.25)
    top = (height - line_height * len(lines)) // 2
    for number, line in enumerate(lines):
        draw.text(
            (width / 2, top + number * line_height),
            line,
            font=font,
            anchor="ma",
            fill=(255, 255, 255),
            stroke_width=max(1, font_size // 14),
            stroke_fill=(20, 20, 20),
        )


def _draw_caption(draw: ImageDraw.ImageDraw, text: str, width: int, height: int) -> None:
    font_size = max(8, min(width, height) // 40)
    margin = max(4, font_size // 2)
    draw.text(
        (margin, height - margin),
        text,
        font=_font(font_size),
        anchor="ld",
        fill=(255, 255, 255),
        stroke_width=max(1, font_size // 12),
        stroke_fill=(20, 20, 20),
    )


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.ImageFont, max_width: int) -> list[str]:
    """Greedy word wrap to ``max_width`` pixels, at most ``_MAX_TEXT_LINES`` lines (then an ellipsis)."""
    lines: list[str] = []
    current = ""
    for word in text.split(" "):
        candidate = f"{current} {word}".strip()
        if current and draw.textlength(candidate, font=font) > max_width:
            lines.append(current)
            candidate = word
        current = candidate
        if len(lines) > _MAX_TEXT_LINES:
            break
    if current:
        lines.append(current)
    lines = [_fit(draw, line, font, max_width) for line in lines]
    if len(lines) > _MAX_TEXT_LINES:
        lines = lines[:_MAX_TEXT_LINES]
        lines[-1] = _fit(draw, lines[-1] + "\u2026", font, max_width, suffix="\u2026")
    return lines


def _fit(
    draw: ImageDraw.ImageDraw, line: str, font: ImageFont.ImageFont, max_width: int, suffix: str = ""
) -> str:
    """Cut a line (a single long word, say) until it fits, keeping ``suffix`` at its end.

    The longest prefix that fits, found by halving (a dozen measurements, not one per character).
    """
    body = line[: -len(suffix)] if suffix and line.endswith(suffix) else line
    if suffix and not line.endswith(suffix):
        suffix = ""
    if len(line) <= 1 or draw.textlength(line, font=font) <= max_width:
        return line
    low, high = 1, len(body)  # body[:low] + suffix is kept even when it does not fit
    while low < high:
        middle = (low + high + 1) // 2
        if draw.textlength(body[:middle] + suffix, font=font) <= max_width:
            low = middle
        else:
            high = middle - 1
    return body[:low] + suffix


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    # Fast compression: these images live for minutes and speed matters more than size.
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()
