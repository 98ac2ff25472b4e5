"""Fetch a completed job's results into our own storage.

The upstream deletes results after about a week, so they are fetched as soon
as a job completes. A result is streamed to a temporary file beside the media
folder, capped in size, checked to be an image by its bytes (the vendor's
sample names results ``.mp4``), and only then moved into storage: a crash
mid-download leaves no half file that the database points at.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from PIL import Image, UnidentifiedImageError

from generations.models import Job, result_path
from generations.upstream.client import SoulError, get_client

EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "GIF": "gif", "AVIF": "avif"}


class NotAnImage(SoulError):
    """The bytes are not an image we can keep."""


class _MovableFile(File):
    # FileSystemStorage moves a file that has a temporary path instead of
    # copying it: an atomic rename when both sit on one file system.
    def temporary_file_path(self) -> str:
        return self.file.name


@dataclass(frozen=True)
class Stored:
    name: str
    width: int
    height: int


def _temp_dir() -> str:
    path = os.path.join(settings.MEDIA_ROOT, "tmp")
    os.makedirs(path, exist_ok=True)
    return path


def fetch(job: Job, url: str, kind: str) -> Stored:
    """Download a job's result and keep it as ``<index>-<kind>.<ext>``; raise SoulError on failure."""
    return fetch_file(url, lambda ext: result_path(job, f"{job.index}-{kind}.{ext}"))


def fetch_file(url: str, name_for) -> Stored:
    """Download ``url`` into storage under ``name_for(extension)``, once it proved to be an image."""
    client = get_client()
    with tempfile.NamedTemporaryFile(dir=_temp_dir(), prefix="dl-", delete=False) as tmp:
        try:
            client.download(url, tmp, max_bytes=settings.SOUL_DOWNLOAD_MAX_BYTES)
            tmp.flush()
            width, height, fmt = _inspect(tmp.name)
            name = name_for(EXTENSIONS[fmt])
            with open(tmp.name, "rb") as stream:
                saved = default_storage.save(name, _MovableFile(stream, name=tmp.name))
            return Stored(saved, width, height)
        finally:
            if os.path.exists(tmp.name):
                os.unlink(tmp.name)


def _inspect(path: str) -> tuple[int, int, str]:
    try:
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            width, height, fmt = image.width, image.height, image.format
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise NotAnImage("The result is not a readable image.") from exc
    if fmt not in EXTENSIONS:
        raise NotAnImage(f"The result is a {fmt} file, not an image format soulsite keeps.")
    return width, height, fmt
