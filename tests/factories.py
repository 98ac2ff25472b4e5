"""Small helpers to make job sets in tests."""

from generations.actions import jobsets
from generations.ledger import rollup as spend_days
from generations.models import JobSet
from generations.queries import teams

DEFAULTS = {
    "prompt": "a red fox in fresh snow",
    "width_and_height": "1536x2048",
    "quality": "720p",
    "batch_size": 1,
    "seed": None,
    "enhance_prompt": False,
    "style": None,
    "style_strength": None,
}


def make_job_set(user, **fields):
    team = fields.pop("team") if "team" in fields else teams.current_team(user)
    created_at = fields.pop("created_at", None)
    request = JobSet(**{**DEFAULTS, **fields}).soul_request()
    return jobsets.create(user, team, request, created_at=created_at)


def png(color=(120, 80, 200), size=(48, 64)) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def make_finished_upstream(user, batch_size: int = 4):
    """A job set in flight whose jobs the gateway reported completed, nothing stored yet."""
    from django.utils import timezone

    from generations.models import Job, JobSet

    job_set = make_job_set(user, batch_size=batch_size)
    JobSet.objects.filter(pk=job_set.pk).update(
        status=JobSet.Status.IN_PROGRESS, sent_at=timezone.now(), upstream_id="up", claimed_by="w"
    )
    for index in range(batch_size):
        Job.objects.create(
            job_set=job_set,
            index=index,
            upstream_id=f"up-{index}",
            status="completed",
            raw_url=f"https://cdn.example/{index}.png",
        )
    return job_set


def make_finished(user, prompt: str = "a finished picture", **fields):
    """A completed, charged job set whose images are stored (no gateway involved)."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from django.utils import timezone

    from generations.models import Job, JobSet

    job_set = make_job_set(user, prompt=prompt, **fields)
    for index in range(job_set.batch_size):
        name = default_storage.save(
            f"results/test/{job_set.pk}-{index}.png", ContentFile(png((40 * index % 255, 120, 200)))
        )
        Job.objects.create(
            job_set=job_set,
            index=index,
            upstream_id=f"{job_set.pk}-{index}",
            status="completed",
            raw_url=f"https://cdn.example/{job_set.pk}/{index}.png",
            image=name,
            preview=name,
            width=48,
            height=64,
            finished_at=timezone.now(),
            downloaded_at=timezone.now(),
        )
    JobSet.objects.filter(pk=job_set.pk).update(
        status=JobSet.Status.COMPLETED,
        charge=JobSet.Charge.CHARGED,
        finished_at=timezone.now(),
        upstream_id=f"up-{job_set.pk}",
    )
    spend_days.refresh(job_set)  # as the lifecycle does when it stores images and finishes a job set
    job_set.refresh_from_db()
    return job_set
