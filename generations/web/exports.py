"""Images as they leave the site: one download, or a zip with a metadata sidecar (CSV and JSON).

Every downloaded image carries what made it (prompt, seed, size, style, model) inside the file
(generations/upstream/metadata.py), written on the way out: the stored file stays the gateway's
bytes, and images stored before this existed carry it too (docs/DECISIONS.md, "Metadata in
downloaded files"). A file is named from its prompt, seed and number (generations/web/filenames.py).
"""

from __future__ import annotations

import io
import json
import logging
import tempfile
import zipfile

from django.core.files.storage import default_storage
from django.utils import timezone

from generations.models import Job
from generations.upstream import metadata as embedded
from generations.web import filenames, safe_csv
from soulwire import params

log = logging.getLogger(__name__)

FIELDS = [
    "file",
    "job_set",
    "image",
    "prompt",
    "width_and_height",
    "quality",
    "batch_size",
    "style",
    "style_strength",
    "seed",
    "enhance_prompt",
    "character",
    "custom_reference_strength",
    "image_reference",
    "price",
    "who",
    "team",
    "created",
    "upstream_job_set",
    "upstream_job",
]


def metadata(job: Job, filename: str) -> dict:
    job_set = job.job_set
    return {
        "file": filename,
        "job_set": job_set.pk,
        "image": job.index + 1,
        "prompt": job_set.prompt,
        "width_and_height": job_set.width_and_height,
        "quality": job_set.quality,
        "batch_size": job_set.batch_size,
        "style": job_set.style.name if job_set.style else "General (default)",
        "style_strength": str(job_set.style_strength) if job_set.style_strength is not None else "",
        "seed": seed_of(job) or "",
        "enhance_prompt": job_set.enhance_prompt,
        "character": job_set.character.name
        if job_set.character
        else (str(job_set.custom_reference_id or "")),
        "custom_reference_strength": str(job_set.custom_reference_strength or ""),
        "image_reference": job_set.image_reference_image_url
        or ("uploaded" if job_set.reference_upload_id else ""),
        "price": str(job_set.price),
        "who": job_set.user.get_username(),
        "team": job_set.team.name if job_set.team else "",
        "created": timezone.localtime(job_set.created_at).isoformat(timespec="seconds"),
        "upstream_job_set": job_set.upstream_id or "",
        "upstream_job": job.upstream_id,
    }


def seed_of(job: Job) -> int | None:
    """The seed the image was made with: the one asked for, else the one Soul says it chose."""
    job_set = job.job_set
    if job_set.seed:
        return job_set.seed
    chosen = job_set.input_params.get("seed") if isinstance(job_set.input_params, dict) else None
    if isinstance(chosen, int) and not isinstance(chosen, bool):
        return chosen
    if isinstance(chosen, str) and chosen.isascii() and chosen.isdigit():
        return int(chosen)
    return None  # random, and the gateway did not say which


def file_name(job: Job, kind: str = "raw") -> str:
    """``<prompt slug>-<seed>-<n>.<ext>``; a preview says so."""
    field = job.image if kind == "raw" else (job.preview or job.image)
    extension = field.name.rsplit(".", 1)[-1]
    suffix = "" if kind == "raw" else "preview"
    return filenames.image_name(job.job_set.prompt, seed_of(job), job.index + 1, extension, suffix)


def describe(job: Job) -> embedded.Description:
    """What the file should say about itself: the parameters in words, and the job set's record."""
    job_set = job.job_set
    width, height = (
        (job.width, job.height) if job.width and job.height else params.parse_size(job_set.width_and_height)
    )
    style = job_set.style.name if job_set.style else "General"
    settings = [("Style", style)]
    if job_set.style_strength is not None:
        settings.append(("Style strength", str(job_set.style_strength)))
    settings += [("Quality", job_set.quality), ("Enhance prompt", "yes" if job_set.enhance_prompt else "no")]
    if job_set.custom_reference_id:
        settings.append(
            ("Character", job_set.character.name if job_set.character else str(job_set.custom_reference_id))
        )
        if job_set.custom_reference_strength is not None:
            settings.append(("Character strength", str(job_set.custom_reference_strength)))
    if job_set.reference_upload_id or job_set.image_reference_image_url:
        settings.append(("Image reference", "uploaded image" if job_set.reference_upload_id else "image URL"))
    settings.append(("Image", f"{job.index + 1} of {job_set.batch_size}"))
    seed = seed_of(job)
    # Who made it, the team, the price and a reference's address are left out: a file travels
    # further than the site.
    record = {
        "site": "soulsite",
        "job_set": job_set.pk,
        "image": job.index + 1,
        "prompt": job_set.prompt,
        "seed": seed,
        "size": job_set.width_and_height,
        "width": width,
        "height": height,
        "quality": job_set.quality,
        "batch_size": job_set.batch_size,
        "style": style,
        "style_id": str(job_set.style_id) if job_set.style_id else None,
        "style_strength": str(job_set.style_strength) if job_set.style_strength is not None else None,
        "enhance_prompt": job_set.enhance_prompt,
        "character": job_set.character.name if job_set.character else None,
        "custom_reference_id": str(job_set.custom_reference_id) if job_set.custom_reference_id else None,
        "custom_reference_strength": str(job_set.custom_reference_strength)
        if job_set.custom_reference_strength is not None
        else None,
        # What kind, not the address: a link to someone's picture may carry its access token.
        "image_reference": "uploaded image"
        if job_set.reference_upload_id
        else ("image URL" if job_set.image_reference_image_url else None),
        "model": embedded.MODEL,
        "created": timezone.localtime(job_set.created_at).isoformat(timespec="seconds"),
    }
    return embedded.Description(
        prompt=job_set.prompt, width=width, height=height, seed=seed, settings=tuple(settings), record=record
    )


def with_metadata(job: Job, name: str) -> bytes:
    """The stored file ``name`` of ``job`` with its description written in; FileNotFoundError if gone.

    A file whose structure the writer cannot follow is served as stored, with a warning in the
    log: the image matters more than its metadata.
    """
    with default_storage.open(name, "rb") as source:
        data = source.read()
    try:
        return embedded.embed(data, describe(job))
    except ValueError:
        log.warning("Could not write metadata into %s; serving it as stored.", name, exc_info=True)
        return data


def build_zip(jobs: list[Job]):
    """A temporary file holding the zip: full-size images with metadata plus metadata.csv and .json."""
    spool = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)  # noqa: SIM115 - returned open
    records = []
    unique = filenames.UniqueNames()
    for reserved in ("metadata.csv", "metadata.json"):
        unique(reserved)
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_STORED) as archive:
        for job in jobs:
            if not job.image:
                continue
            filename = unique(file_name(job))
            try:
                data = with_metadata(job, job.image.name)
            except FileNotFoundError:
                log.warning("Left %s out of a zip: it is missing from storage.", job.image.name)
                continue
            archive.writestr(filename, data)
            records.append(metadata(job, filename))
        table = io.StringIO()
        writer = safe_csv.DictWriter(table, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(records)
        archive.writestr("metadata.csv", table.getvalue())
        archive.writestr("metadata.json", json.dumps(records, indent=2, default=str))
    spool.seek(0)
    return spool, len(records)
