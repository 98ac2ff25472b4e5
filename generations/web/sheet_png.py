"""An exploration's contact sheet as one PNG, with its row and column labels drawn in.

Each cell shows its combination's first stored preview (or says what became of it); the labels
are the sheet's own (what varies), so the picture stands on its own in a chat or a deck.
"""

from __future__ import annotations

import functools
import io

from django.core.files.storage import default_storage
from PIL import Image, ImageDraw, ImageFont

from generations.models import JobSet
from generations.queries.explorations import Sheet

CELL = 256  # pixels of a cell's longer side
GAP = 8
LABEL_WIDTH = 180  # the row labels' column
HEADER = 56  # the column labels' row
TITLE = 40
BACKGROUND = (250, 250, 250)
INK = (30, 30, 30)
MUTED = (120, 120, 120)
EMPTY = (225, 225, 225)
# The most cells a sheet may have (SOUL_EXPLORE_LIMIT is 48 by default): a bound on the picture's size.
MAX_CELLS = 400


# A system font that covers accents and signs such as × (Debian's fonts-dejavu, found by name in
# the usual font folders); without one, Pillow's own font, which lacks them (see _said).
FONT_FILE = "DejaVuSans.ttf"
# What Pillow's own font cannot draw, said with what it can.
PLAIN = str.maketrans({"×": "x", "—": "-", "–": "-", "→": "->"})


@functools.cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.truetype(FONT_FILE, size)
    except OSError:
        return ImageFont.load_default(size=size)


def _said(text: str) -> str:
    font = _font(16)
    if isinstance(font, ImageFont.FreeTypeFont) and FONT_FILE in str(getattr(font, "path", "")):
        return text
    return text.translate(PLAIN)


def _fit(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> str:
    """The text cut with an ellipsis to fit ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def _preview(job_set: JobSet | None) -> Image.Image | None:
    if job_set is None:
        return None
    for job in job_set.sheet_jobs:
        name = job.preview.name or job.image.name
        if not name:
            continue
        try:
            with default_storage.open(name, "rb") as source:
                picture = Image.open(source)
                picture.thumbnail((CELL, CELL))
                return picture.convert("RGB")
        except (OSError, Image.DecompressionBombError, ValueError):
            continue  # a file gone or broken: the cell says so instead
    return None


def render(sheet: Sheet) -> bytes:
    """The sheet as PNG bytes."""
    columns = max(len(sheet.column_labels), 1)
    rows = max(len(sheet.rows), 1)
    if rows * columns > MAX_CELLS:
        raise ValueError("This sheet is too large to draw.")
    width = LABEL_WIDTH + columns * (CELL + GAP) + GAP
    height = TITLE + HEADER + rows * (CELL + GAP) + GAP
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    title_font, label_font, small = _font(20), _font(16), _font(13)
    exploration = sheet.exploration
    title = _said(f"{exploration.title}: {exploration.prompt}")
    draw.text((GAP, 10), _fit(draw, title, title_font, width - 2 * GAP), font=title_font, fill=INK)
    for column, label in enumerate(sheet.column_labels):
        x = LABEL_WIDTH + GAP + column * (CELL + GAP)
        draw.text((x, TITLE + 18), _fit(draw, _said(label), label_font, CELL), font=label_font, fill=INK)
    for row, (label, cells) in enumerate(sheet.rows):
        y = TITLE + HEADER + row * (CELL + GAP)
        draw.text(
            (GAP, y + CELL // 2 - 10),
            _fit(draw, _said(label), label_font, LABEL_WIDTH - 2 * GAP),
            font=label_font,
            fill=INK,
        )
        for column, job_set in enumerate(cells):
            x = LABEL_WIDTH + GAP + column * (CELL + GAP)
            picture = _preview(job_set)
            if picture is None:
                draw.rectangle((x, y, x + CELL - 1, y + CELL - 1), fill=EMPTY)
                said = job_set.status_label if job_set is not None else "—"
                draw.text((x + 10, y + CELL // 2 - 8), said, font=small, fill=MUTED)
                continue
            # Centred in its cell: a portrait or landscape preview leaves a margin.
            canvas.paste(picture, (x + (CELL - picture.width) // 2, y + (CELL - picture.height) // 2))
    out = io.BytesIO()
    canvas.save(out, format="PNG", optimize=False)
    return out.getvalue()
