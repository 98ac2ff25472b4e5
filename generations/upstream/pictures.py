"""The one check every uploaded picture passes: a reference image or a character's picture.

In this order, so that the cheap refusals come before any byte is read:

1. its size in bytes (``SOUL_UPLOAD_MAX_BYTES``), from what the upload says, before reading it;
2. that Pillow knows the file (only the header is read) and it is a JPEG, PNG or WebP;
3. its pixel count (``SOUL_UPLOAD_MAX_PIXELS``), from the header. A "decompression bomb" is a
   small file that says it holds billions of pixels; Pillow's own guard (``MAX_IMAGE_PIXELS``,
   set to the same limit in ``GenerationsConfig.ready``) warns above it and raises at twice it,
   and both are turned into the same refusal here instead of a server error;
4. ``verify()``, which walks the file without decoding the pixels.

The picture is never decoded, so no check costs memory in proportion to its pixels.
"""

from __future__ import annotations

import warnings

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from PIL import Image, UnidentifiedImageError

FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
MB = 1024 * 1024


def limits_in_words() -> str:
    """The limits as a person reads them: "10 MB and 50 megapixels"."""
    return f"{_mb(settings.SOUL_UPLOAD_MAX_BYTES)} and {_megapixels(settings.SOUL_UPLOAD_MAX_PIXELS)}"


def help_text() -> str:
    """Said beside every field that takes a picture."""
    return f"A JPEG, PNG or WebP picture of at most {limits_in_words()}."


def check_picture(file: UploadedFile) -> str:
    """The picture's content type, or a ValidationError saying, in words, why it cannot be used."""
    max_bytes, max_pixels = settings.SOUL_UPLOAD_MAX_BYTES, settings.SOUL_UPLOAD_MAX_PIXELS
    if file.size is not None and file.size > max_bytes:
        raise ValidationError(
            f"This picture is {file.size / MB:.1f} MB; a picture can be at most {_mb(max_bytes)}. "
            "Save it smaller (a JPEG is usually much smaller) and upload it again.",
            code="too_large",
        )
    too_many_pixels = ValidationError(
        f"This picture has too many pixels; a picture can have at most {_megapixels(max_pixels)} "
        "(its width times its height). Make it smaller and upload it again.",
        code="too_many_pixels",
    )
    try:
        with warnings.catch_warnings():
            # Pillow warns between its limit and twice it; here that is a refusal as well.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(file) as image:
                fmt = image.format
                width, height = image.size
                if fmt in FORMATS and width * height <= max_pixels:
                    image.verify()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise too_many_pixels from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ValidationError(
            "That file is not a picture soulsite can read. Upload a JPEG, PNG or WebP image.",
            code="not_an_image",
        ) from exc
    finally:
        file.seek(0)
    if fmt not in FORMATS:
        raise ValidationError("Upload a JPEG, PNG or WebP image.", code="wrong_format")
    if width * height > max_pixels:
        raise too_many_pixels
    return FORMATS[fmt]


def _mb(size: int) -> str:
    return f"{size / MB:g} MB"


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1_000_000:g} megapixels"
