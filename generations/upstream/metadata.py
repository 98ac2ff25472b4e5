"""What made an image, written into the image file itself: PNG text chunks, JPEG and WebP EXIF and XMP.

Pure: bytes and a :class:`Description` in, bytes out; no Django, no database, no pixel decoded.
The chunks and segments are spliced into the file as it is, so the pixels (and their compression)
stay exactly the gateway's and the cost is one copy of the bytes, not an encode.

What each format carries, so that the tools people open images with show it:

- PNG: a ``parameters`` text chunk in AUTOMATIC1111's "infotext" layout (its PNG Info tab and most
  image viewers of the Stable Diffusion world read it), an ``invokeai_metadata`` JSON chunk
  (InvokeAI's reader), and a ``soulsite`` JSON chunk with the job set's own record.
- JPEG and WebP: EXIF (ImageDescription, and UserComment as AUTOMATIC1111 writes it for these
  formats: "UNICODE" then UTF-16 big-endian) and an XMP packet (dc:description, and the record).

An existing EXIF block is kept and our tags set in it (an orientation stays); an existing XMP
packet or a text chunk of ours is replaced, never doubled. A format this module does not write
(GIF, AVIF) comes back unchanged; a file whose structure does not parse raises ValueError, and the
caller serves the original.
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from PIL import Image

MODEL = "Higgsfield Soul"
SOFTWARE = "soulsite"

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_KEYS = ("parameters", "invokeai_metadata", "soulsite")
PNG_TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")

EXIF_HEADER = b"Exif\x00\x00"
XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
XMP_EXTENSION_HEADER = b"http://ns.adobe.com/xmp/extension/\x00"
XMP_NAMESPACE = "https://soulsite.invalid/xmp/1.0/"  # a name, never fetched: .invalid cannot resolve
SEGMENT_MAX = 65533  # a JPEG segment's payload: its 16-bit length counts the two length bytes too

# EXIF tags (TIFF 6.0 / EXIF 2.32 numbers).
IMAGE_DESCRIPTION, SOFTWARE_TAG, EXIF_IFD, USER_COMMENT = 0x010E, 0x0131, 0x8769, 0x9286

# XML 1.0 cannot hold these control characters, even escaped; a prompt could.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class Description:
    """What made one image, as the file should tell it."""

    prompt: str
    width: int
    height: int
    seed: int | None = None
    # Further "Name: value" pairs for the infotext's last line, in order (style, quality, ...).
    settings: tuple[tuple[str, str], ...] = ()
    # The job set's own record, written as JSON (the ``soulsite`` chunk and the XMP packet).
    record: dict = field(default_factory=dict)
    model: str = MODEL

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"


def infotext(description: Description) -> str:
    """AUTOMATIC1111's layout: the prompt, then one line of ``Name: value`` pairs.

    Its reader takes the last line as the parameters when it holds at least three pairs, which
    Size, Model and Quality always make. A value with a comma, colon or line break is quoted as a
    JSON string, as AUTOMATIC1111 quotes it, so the line still splits into the right pairs.
    Soul has no sampler, steps or CFG scale; they are left out rather than made up.
    """
    pairs: list[tuple[str, object]] = []
    if description.seed is not None:
        pairs.append(("Seed", description.seed))
    pairs += [("Size", description.size), ("Model", description.model), *description.settings]
    line = ", ".join(f"{name}: {_quote(value)}" for name, value in pairs)
    return f"{description.prompt.strip()}\n{line}"


def record_json(description: Description) -> str:
    # ASCII, so the chunk is a plain tEXt chunk every reader takes; non-ASCII is escaped, not lost.
    return json.dumps(description.record, ensure_ascii=True, separators=(",", ":"), default=str)


def embed(data: bytes, description: Description) -> bytes:
    """``data`` with the description written in, for PNG, JPEG and WebP; other formats unchanged."""
    if data.startswith(PNG_SIGNATURE):
        return _embed_png(data, description)
    if data.startswith(b"\xff\xd8\xff"):
        return _embed_jpeg(data, description)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _embed_webp(data, description)
    return data


# --- PNG ---------------------------------------------------------------------------------------


def _embed_png(data: bytes, description: Description) -> bytes:
    chunks = list(_png_chunks(data))
    if not chunks or chunks[0][0] != b"IHDR":
        raise ValueError("A PNG must start with its IHDR chunk.")
    ours = [
        _png_text("parameters", infotext(description)),
        _png_text("invokeai_metadata", json.dumps(_invokeai(description), ensure_ascii=True)),
        _png_text("soulsite", record_json(description)),
    ]
    view = memoryview(data)
    parts = [PNG_SIGNATURE, view[chunks[0][1] : chunks[0][2]], *ours]  # ours before IDAT: read on open
    for kind, start, end, keyword in chunks[1:]:
        if kind in PNG_TEXT_CHUNKS and keyword in PNG_KEYS:
            continue  # an older copy of ours: replaced, not doubled
        parts.append(view[start:end])
    return b"".join(parts)


def _png_chunks(data: bytes):
    """(type, start, end, text keyword) of every chunk up to and including IEND."""
    position = len(PNG_SIGNATURE)
    while True:
        if position + 12 > len(data):
            raise ValueError("The PNG ends before its IEND chunk.")
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        end = position + 12 + length
        if end > len(data):
            raise ValueError("A PNG chunk runs past the end of the file.")
        keyword = None
        if kind in PNG_TEXT_CHUNKS:
            keyword = (
                data[position + 8 : position + 8 + min(length, 80)].split(b"\x00", 1)[0].decode("latin-1")
            )
        yield kind, position, end, keyword
        if kind == b"IEND":
            return
        position = end


def _png_text(key: str, text: str) -> bytes:
    """A tEXt chunk when the text is Latin-1 (what the PNG spec allows there), else UTF-8 iTXt."""
    try:
        body = key.encode("latin-1") + b"\x00" + text.encode("latin-1")
        kind = b"tEXt"
    except UnicodeEncodeError:
        # keyword, NUL, not compressed, method 0, no language tag, no translated keyword, UTF-8 text
        body = key.encode("latin-1") + b"\x00\x00\x00" + b"\x00" + b"\x00" + text.encode("utf-8")
        kind = b"iTXt"
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _invokeai(description: Description) -> dict:
    # The fields InvokeAI's metadata viewer recalls; the model is named, not one of its own.
    return {
        "generation_mode": "txt2img",
        "positive_prompt": description.prompt,
        "negative_prompt": "",
        "width": description.width,
        "height": description.height,
        "seed": description.seed,
        "model": {"name": description.model},
    }


# --- EXIF and XMP (JPEG, WebP) --------------------------------------------------------------------


# What Pillow raises on an EXIF block someone else wrote badly (found by mutating real ones).
_BAD_EXIF = (SyntaxError, ValueError, TypeError, KeyError, IndexError, struct.error, OSError)


def _exif(description: Description, existing: bytes | None) -> bytes:
    """TIFF-structured EXIF bytes (without the ``Exif\\0\\0`` prefix) holding the description.

    Our tags are set in an existing block, so its other tags (an orientation) stay; a block that
    does not parse, or one too large for a JPEG segment with ours in it (a big thumbnail), is
    replaced by ours alone rather than costing the file its metadata.
    """
    if existing:
        try:
            data = _exif_bytes(description, existing)
        except _BAD_EXIF:
            data = b""
        if 0 < len(data) <= SEGMENT_MAX:
            return data
    return _exif_bytes(description, None)


def _exif_bytes(description: Description, existing: bytes | None) -> bytes:
    exif = Image.Exif()
    if existing:
        exif.load(existing)
    text = infotext(description)
    # ImageDescription is an ASCII field; UTF-8 in it is what exiftool and most readers expect.
    exif[IMAGE_DESCRIPTION] = text.encode("utf-8")
    exif[SOFTWARE_TAG] = SOFTWARE
    # UserComment exactly as AUTOMATIC1111 (piexif) writes it for JPEG and WebP.
    exif.get_ifd(EXIF_IFD)[USER_COMMENT] = b"UNICODE\x00" + text.encode("utf-16-be")
    data = exif.tobytes()
    return data[len(EXIF_HEADER) :] if data.startswith(EXIF_HEADER) else data


def _xmp(description: Description) -> bytes:
    text = _xml_text(infotext(description))
    record = _xml_text(record_json(description))
    alt = f'<rdf:Alt><rdf:li xml:lang="x-default">{text}</rdf:li></rdf:Alt>'  # a text in one language
    packet = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about=""\n'
        '    xmlns:dc="http://purl.org/dc/elements/1.1/"\n'
        '    xmlns:xmp="http://ns.adobe.com/xap/1.0/"\n'
        '    xmlns:exif="http://ns.adobe.com/exif/1.0/"\n'
        f'    xmlns:soulsite="{XMP_NAMESPACE}">\n'
        f"   <dc:description>{alt}</dc:description>\n"
        f"   <exif:UserComment>{alt}</exif:UserComment>\n"
        f"   <xmp:CreatorTool>{SOFTWARE}</xmp:CreatorTool>\n"
        f"   <soulsite:parameters>{text}</soulsite:parameters>\n"
        f"   <soulsite:record>{record}</soulsite:record>\n"
        "  </rdf:Description>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    )
    return packet.encode("utf-8")


def _xml_text(text: str) -> str:
    return escape(_NOT_XML.sub("", text))


# --- JPEG ----------------------------------------------------------------------------------------


def _embed_jpeg(data: bytes, description: Description) -> bytes:
    view = memoryview(data)
    leading: list[memoryview] = []  # APP0 (JFIF) segments: they must stay first
    others: list[memoryview] = []
    existing_exif = None
    position = 2
    while True:
        marker, start, end = _jpeg_segment(data, position)
        if marker in (0xDA, 0xD9):  # start of scan, or end of image: the rest is copied as it is
            break
        payload = data[start + 4 : end]
        if marker == 0xE1 and payload.startswith(EXIF_HEADER):
            existing_exif = existing_exif or payload[len(EXIF_HEADER) :]
        elif marker == 0xE1 and payload.startswith((XMP_HEADER, XMP_EXTENSION_HEADER)):
            pass  # replaced by ours
        elif marker == 0xE0 and not others:
            leading.append(view[start:end])
        else:
            others.append(view[start:end])
        position = end
    ours = [
        _jpeg_app1(EXIF_HEADER + _exif(description, existing_exif)),
        _jpeg_app1(XMP_HEADER + _xmp(description)),
    ]
    return b"".join([b"\xff\xd8", *leading, *ours, *others, view[start:]])


def _jpeg_segment(data: bytes, position: int) -> tuple[int, int, int]:
    """(marker, start, end) of the marker segment at ``position`` (fill bytes skipped)."""
    start = position
    while position + 1 < len(data) and data[position] == 0xFF and data[position + 1] == 0xFF:
        position += 1  # fill bytes before a marker
    if position + 2 > len(data) or data[position] != 0xFF:
        raise ValueError("The JPEG has no marker where one should be.")
    marker = data[position + 1]
    if marker in (0xDA, 0xD9):
        return marker, position, len(data)
    if marker == 0x01 or 0xD0 <= marker <= 0xD7:
        return marker, start, position + 2  # a marker without a length
    if position + 4 > len(data):
        raise ValueError("The JPEG ends inside a segment header.")
    (length,) = struct.unpack(">H", data[position + 2 : position + 4])
    end = position + 2 + length
    if length < 2 or end > len(data):
        raise ValueError("A JPEG segment runs past the end of the file.")
    return marker, position, end


def _jpeg_app1(payload: bytes) -> bytes:
    if len(payload) > SEGMENT_MAX:
        raise ValueError("The metadata is larger than one JPEG segment holds.")
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


# --- WebP ----------------------------------------------------------------------------------------

VP8X_ICC, VP8X_ALPHA, VP8X_EXIF, VP8X_XMP, VP8X_ANIMATION = 0x20, 0x10, 0x08, 0x04, 0x02


def _embed_webp(data: bytes, description: Description) -> bytes:
    chunks = list(_webp_chunks(data))
    if not chunks:
        raise ValueError("The WebP holds no chunk.")
    existing_exif = next((payload for fourcc, payload in chunks if fourcc == b"EXIF"), None)
    kept = [(fourcc, payload) for fourcc, payload in chunks if fourcc not in (b"EXIF", b"XMP ")]
    first, payload = kept[0]
    if first == b"VP8X":
        header = bytes([payload[0] | VP8X_EXIF | VP8X_XMP]) + bytes(payload[1:])
        body = kept[1:]
    else:
        # A simple file (one VP8 or VP8L image) says nothing of metadata: it becomes an extended one.
        width, height, alpha = _webp_canvas(first, payload)
        flags = VP8X_EXIF | VP8X_XMP | (VP8X_ALPHA if alpha else 0)
        header = (
            bytes([flags, 0, 0, 0]) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
        )
        body = kept
    exif = _exif(description, bytes(existing_exif) if existing_exif is not None else None)
    parts = [
        (b"VP8X", header),
        *body,
        (b"EXIF", exif),  # the spec's order: image data first, then EXIF, then XMP
        (b"XMP ", _xmp(description)),
    ]
    encoded = b"".join(_webp_chunk(fourcc, payload) for fourcc, payload in parts)
    return b"RIFF" + struct.pack("<I", 4 + len(encoded)) + b"WEBP" + encoded


def _webp_chunks(data: bytes):
    (riff_size,) = struct.unpack("<I", data[4:8])
    end_of_file = min(len(data), 8 + riff_size)
    position = 12
    view = memoryview(data)
    while position + 8 <= end_of_file:
        fourcc = data[position : position + 4]
        (size,) = struct.unpack("<I", data[position + 4 : position + 8])
        start = position + 8
        if start + size > end_of_file:
            raise ValueError("A WebP chunk runs past the end of the file.")
        yield fourcc, view[start : start + size]
        position = start + size + (size & 1)  # chunks are padded to an even length


def _webp_canvas(fourcc: bytes, payload) -> tuple[int, int, bool]:
    """(width, height, has alpha) from a simple WebP's one image chunk."""
    if fourcc == b"VP8L" and len(payload) >= 5 and payload[0] == 0x2F:
        bits = int.from_bytes(bytes(payload[1:5]), "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, bool((bits >> 28) & 1)
    if fourcc == b"VP8 " and len(payload) >= 10 and bytes(payload[3:6]) == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", bytes(payload[6:10]))
        return width & 0x3FFF, height & 0x3FFF, False
    raise ValueError("The WebP's image chunk is not one this module knows.")


def _webp_chunk(fourcc: bytes, payload) -> bytes:
    size = len(payload)
    return fourcc + struct.pack("<I", size) + bytes(payload) + (b"\x00" if size & 1 else b"")


def _quote(value: object) -> str:
    text = str(value)
    if "," in text or ":" in text or "\n" in text:
        return json.dumps(text, ensure_ascii=False)
    return text
