"""A zip of chosen images with their metadata beside them (CSV and JSON)."""

from __future__ import annotations

import io
import json
import tempfile
import zipfile

from django.core.files.storage import default_storage
from django.utils import timezone

from generations.models import Job
from generations.web import safe_csv

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
        "seed": job_set.seed or job_set.input_params.get("seed") or "",
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


def build_zip(jobs: list[Job]):
    """A temporary file holding the zip: full-size images plus metadata.csv and metadata.json."""
    spool = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)  # noqa: SIM115 - returned open
    records = []
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_STORED) as archive:
        for job in jobs:
            if not job.image:
                continue
            extension = job.image.name.rsplit(".", 1)[-1]
            filename = f"soulsite-{job.job_set_id}-{job.index + 1}.{extension}"
            with default_storage.open(job.image.name, "rb") as source, archive.open(filename, "w") as target:
                for chunk in iter(lambda: source.read(1024 * 1024), b""):
                    target.write(chunk)
            records.append(metadata(job, filename))
        table = io.StringIO()
        writer = safe_csv.DictWriter(table, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(records)
        archive.writestr("metadata.csv", table.getvalue())
        archive.writestr("metadata.json", json.dumps(records, indent=2, default=str))
    spool.seek(0)
    return spool, len(records)
