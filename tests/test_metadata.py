"""Writing what made an image into the file (generations/upstream/metadata.py): no database, no HTTP."""

from __future__ import annotations

import io
import json
import re
import struct
import zlib

import pytest
from PIL import Image, PngImagePlugin

from generations.upstream import metadata
from generations.upstream.metadata import Description, embed

PROMPT = "a lighthouse at dusk, waves: «ünïcode» ✓\nsecond line"

# AUTOMATIC1111's own pattern for the parameters line (modules/infotext_utils.py), used here as
# its PNG Info tab uses it, so the test fails if a value would split into the wrong pairs.
A1111_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')


def description(**changes) -> Description:
    values = {
        "prompt": PROMPT,
        "width": 64,
        "height": 48,
        "seed": 424242,
        "settings": (("Style", "Noir, high contrast"), ("Quality", "720p"), ("Enhance prompt", "no")),
        "record": {"job_set": 17, "prompt": PROMPT, "seed": 424242, "size": "64x48", "style": "Noir"},
    }
    return Description(**{**values, **changes})


def encoded(fmt: str, mode: str = "RGB", **options) -> bytes:
    image = Image.new(mode, (64, 48), (30, 160, 90, 255)[: len(mode)])
    for x in range(64):  # some detail, so the compressed pixels are not trivial
        image.putpixel((x, x % 48), (x * 4, 255 - x * 4, 7, 255)[: len(mode)])
    if "A" in mode:
        image.putpixel((1, 40), (0, 0, 0, 0))  # a transparent pixel, so the encoder keeps the alpha
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def pixels(data: bytes) -> bytes:
    return opened(data).tobytes()


def a1111_read(text: str) -> tuple[str, dict[str, str]]:
    """The prompt and the parameters as AUTOMATIC1111's reader splits them."""
    *lines, last = text.strip().split("\n")
    found = {
        name: json.loads(value) if value.startswith('"') else value
        for name, value in A1111_PARAM.findall(last)
    }
    assert len(found) >= 3, "AUTOMATIC1111 takes the last line as parameters only with three or more"
    return "\n".join(lines), found


def test_a_png_carries_the_parameters_in_automatic1111s_layout_and_the_record_as_json():
    out = embed(encoded("PNG"), description())
    image = opened(out)
    assert isinstance(image, PngImagePlugin.PngImageFile)
    prompt, found = a1111_read(image.text["parameters"])
    assert prompt == PROMPT
    assert found["Seed"] == "424242" and found["Size"] == "64x48" and found["Model"] == "Higgsfield Soul"
    assert found["Style"] == "Noir, high contrast"  # quoted, so its comma does not split it
    assert found["Quality"] == "720p"
    record = json.loads(image.text["soulsite"])
    assert record == {"job_set": 17, "prompt": PROMPT, "seed": 424242, "size": "64x48", "style": "Noir"}
    invoke = json.loads(image.text["invokeai_metadata"])
    assert invoke["positive_prompt"] == PROMPT and invoke["seed"] == 424242 and invoke["width"] == 64


def test_the_text_chunks_come_before_the_image_data_so_readers_see_them_without_decoding():
    out = embed(encoded("PNG"), description())
    image = Image.open(io.BytesIO(out))  # not loaded: only the chunks before IDAT are read
    assert "parameters" in image.text and "soulsite" in image.text


def test_latin1_text_is_a_plain_text_chunk_and_other_text_is_utf8():
    latin = embed(encoded("PNG"), description(prompt="café au lait", settings=()))
    assert b"tEXtparameters\x00caf\xe9 au lait" in latin
    wide = embed(encoded("PNG"), description(prompt="猫 on a mat"))
    assert b"iTXtparameters\x00" in wide and "猫 on a mat".encode() in wide
    assert opened(wide).text["parameters"].startswith("猫 on a mat\n")


@pytest.mark.parametrize(
    ("fmt", "mode", "options"),
    [
        ("PNG", "RGB", {}),
        ("PNG", "RGBA", {}),
        ("JPEG", "RGB", {"quality": 90}),
        ("WEBP", "RGB", {"quality": 80}),
        ("WEBP", "RGBA", {"quality": 80}),
        ("WEBP", "RGBA", {"lossless": True}),
    ],
)
def test_the_pixels_stay_exactly_the_gateways(fmt, mode, options):
    original = encoded(fmt, mode, **options)
    out = embed(original, description())
    assert out != original
    assert opened(out).mode == opened(original).mode
    assert pixels(out) == pixels(original)


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
def test_jpeg_and_webp_carry_exif_and_xmp_that_pillow_reads(fmt):
    out = embed(encoded(fmt), description())
    image = opened(out)
    exif = image.getexif()
    # UserComment as AUTOMATIC1111 writes it for these formats: "UNICODE", then UTF-16 big-endian.
    comment = exif.get_ifd(metadata.EXIF_IFD)[metadata.USER_COMMENT]
    assert comment.startswith(b"UNICODE\x00")
    prompt, found = a1111_read(comment[8:].decode("utf-16-be"))
    assert prompt == PROMPT and found["Seed"] == "424242"
    # ImageDescription holds the same text as UTF-8 (Pillow hands an ASCII field back as Latin-1).
    assert exif[metadata.IMAGE_DESCRIPTION].encode("latin-1").decode("utf-8").startswith(PROMPT)
    assert exif[metadata.SOFTWARE_TAG] == "soulsite"
    xmp = _text(image.info["xmp"])
    assert "lighthouse at dusk" in xmp and "Seed: 424242" in xmp and "«ünïcode» ✓" in xmp
    record = re.search(r"<soulsite:record>(.*?)</soulsite:record>", xmp).group(1)
    assert json.loads(record.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))["job_set"] == 17


def test_xml_special_characters_and_control_characters_in_a_prompt_keep_the_xmp_well_formed():
    from xml.dom import minidom

    out = embed(encoded("JPEG"), description(prompt='<b>"cats" & dogs</b>\x07\x1b bell'))
    xmp = opened(out).info["xmp"]
    document = minidom.parseString(xmp if isinstance(xmp, bytes) else xmp.encode())
    text = document.getElementsByTagName("soulsite:parameters")[0].firstChild.data
    assert text.startswith('<b>"cats" & dogs</b> bell')


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_writing_twice_replaces_rather_than_doubles(fmt):
    once = embed(encoded(fmt), description())
    twice = embed(once, description(seed=7))
    assert len(twice) < len(once)  # "7" is shorter than "424242", and nothing was added twice
    if fmt == "PNG":
        assert twice.count(b"parameters\x00") == 1
        assert "Seed: 7," in opened(twice).text["parameters"]
    else:
        assert twice.count(b"<x:xmpmeta") == 1 and twice.count(b"UNICODE\x00") == 1
        assert "Seed: 7," in _text(opened(twice).info["xmp"])


def _text(xmp) -> str:
    return xmp.decode("utf-8") if isinstance(xmp, bytes) else xmp


def test_an_existing_exif_block_keeps_its_tags():
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° when shown
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48)).save(buffer, "JPEG", exif=exif.tobytes())
    out = embed(buffer.getvalue(), description())
    read = opened(out).getexif()
    assert read[0x0112] == 6 and read[metadata.SOFTWARE_TAG] == "soulsite"
    assert out.count(metadata.EXIF_HEADER) == 1


def test_a_jpeg_keeps_its_jfif_segment_first():
    original = encoded("JPEG")
    assert original[2:4] == b"\xff\xe0"  # Pillow writes JFIF's APP0
    out = embed(original, description())
    assert out[:4] == b"\xff\xd8\xff\xe0" and out[out.index(b"\xff\xe1") + 4 :].startswith(b"Exif\x00\x00")


def test_a_simple_webp_becomes_an_extended_one_with_its_canvas_and_alpha():
    for options, alpha in (({"lossless": True}, True), ({"quality": 80}, True)):
        original = encoded("WEBP", "RGBA", **options)
        out = embed(original, description())
        assert out[12:16] == b"VP8X"
        flags = out[20]
        assert flags & metadata.VP8X_EXIF and flags & metadata.VP8X_XMP
        assert bool(flags & metadata.VP8X_ALPHA) == alpha
        width = int.from_bytes(out[24:27], "little") + 1
        height = int.from_bytes(out[27:30], "little") + 1
        assert (width, height) == (64, 48)
        assert struct.unpack("<I", out[4:8])[0] == len(out) - 8  # the RIFF size is right


def test_the_seed_is_left_out_when_nobody_knows_it():
    text = metadata.infotext(description(seed=None))
    assert "Seed" not in text.splitlines()[-1]
    assert a1111_read(text)[1]["Size"] == "64x48"


def test_formats_it_does_not_write_come_back_unchanged():
    buffer = io.BytesIO()
    Image.new("P", (8, 8)).save(buffer, "GIF")
    gif = buffer.getvalue()
    assert embed(gif, description()) == gif
    assert embed(b"not an image at all", description()) == b"not an image at all"


@pytest.mark.parametrize(
    "broken",
    [
        b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIHDR" + b"\x00" * 5,  # cut inside IHDR
        b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 0) + b"IDAT" + struct.pack(">I", zlib.crc32(b"IDAT")),
        b"\xff\xd8\xff\xe0\x00\x10JFIF",  # a segment longer than the file
        b"\xff\xd8\xff\xe0\x00\x04\x00\x00\x00",  # no marker where the next one should be
        b"RIFF\x20\x00\x00\x00WEBPVP8 \xff\x00\x00\x00",  # a chunk longer than the file
    ],
)
def test_a_broken_file_is_refused_with_value_error_not_an_other_exception(broken):
    with pytest.raises(ValueError):
        embed(broken, description())


def test_the_longest_prompt_of_the_widest_characters_still_fits_a_jpeg_segment():
    worst = "😀" * 2000  # PROMPT_MAX_LENGTH of 4-byte characters: the most bytes a prompt can be
    big = description(prompt=worst, settings=(("Style", "S" * 200), ("Character", "C" * 200)))
    big = Description(**{**big.__dict__, "record": {"prompt": worst, "style": "S" * 200}})
    out = embed(encoded("JPEG"), big)
    comment = opened(out).getexif().get_ifd(metadata.EXIF_IFD)[metadata.USER_COMMENT]
    assert comment[8:].decode("utf-16-be").startswith(worst)


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns of the corrupt EXIF it skips
def test_mutated_files_are_refused_with_value_error_or_written_never_another_exception():
    import random

    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "Maker"
    exif.get_ifd(metadata.EXIF_IFD)[0x9003] = "2020:01:01 00:00:00"
    originals = [encoded("PNG"), encoded("JPEG", exif=exif.tobytes()), encoded("WEBP", exif=exif.tobytes())]
    rng = random.Random(23)
    written = 0
    for _ in range(600):
        data = bytearray(rng.choice(originals))
        # Half the changes land in the EXIF block, which is parsed and merged rather than copied.
        exif_at = data.find(b"MM\x00*")
        start = exif_at if exif_at > 0 and rng.random() < 0.5 else 0
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(start, min(len(data), start + 200) if start else len(data))] = rng.randrange(
                256
            )
        if rng.random() < 0.2:
            data = data[: rng.randrange(len(data))]
        try:
            embed(bytes(data), description())
            written += 1
        except ValueError:
            pass
    assert written > 100  # most single-byte changes hit pixel data, which is copied as it is
