"""Many finished job sets for one person, fast: ``bulk_create`` in batches, one transaction each.

Every fourth job set is a batch of 4; the rest are single images. Statuses are
mostly completed, with the failures, NSFW blocks and the odd unconfirmed or
expired one a busy site collects; jobs carry stored image names, upstream URLs
and times. Nothing is pending, so a cluster started afterwards finds no work in
the seeded rows. Generation times are drawn from the same 2-10 s range the
sandbox uses in the tracking measurements, so the history the tracker learns
from agrees with the gateway it then talks to. ``bulk_create`` goes around the
calls that keep the daily spend roll-up, so it is rebuilt at the end.
"""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from generations.ledger import rollup as spend_days
from generations.models import Job, JobSet, Price, Style
from soulwire import contract, params

# The one person who owns every seeded job set; the live measurements log in as them over HTTP.
BENCH_USER, BENCH_PASSWORD = "bench", "bench-password-1"
CHUNK = 5000
# One job set every 5 minutes, night and day: 100,000 cover about a year (a busy team's year; one
# person's would take longer). What the spend chip reads, this month's rows, depends on it.
SPACING = timedelta(minutes=5)
# (status, share) of finished job sets; batches of 4 may finish partly.
OUTCOMES = (
    (JobSet.Status.COMPLETED, 0.90),
    (JobSet.Status.FAILED, 0.04),
    (JobSet.Status.NSFW, 0.03),
    (JobSet.Status.CANCELED, 0.01),
    (JobSet.Status.UNCONFIRMED, 0.01),
    (JobSet.Status.EXPIRED, 0.01),
)
WORDS = (
    "a glass teapot in a greenhouse",
    "a red fox in fresh snow",
    "an old lighthouse at dusk",
    "portrait of a violinist",
    "neon street after rain",
    "a quiet library at night",
    "a cat on a windowsill",
    "mountains above the clouds",
    "a medieval market",
    "a robot gardener",
)


def bench_person():
    """The bench user, and their team (``None`` when this version of soulsite has no teams)."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(BENCH_USER, password=BENCH_PASSWORD)
    try:
        from generations.actions import teams
        from generations.models import Membership, Team
    except ImportError:
        return user, None
    team, _ = Team.objects.get_or_create(name="Bench")
    teams.add_member(team, user, Membership.Role.MANAGER)
    return user, team


def seed(user, team, first: int, count: int, total: int, rng: random.Random) -> None:
    """Create job sets number ``first`` .. ``first + count - 1`` of ``total`` (oldest first).

    Ids and creation times both grow with the number, as on a real site, so the
    newest job set (the gallery's first card) has the highest id.
    """
    prices = {(q, b): Price.current(q, b) for q in params.QUALITIES for b in params.BATCH_SIZES}
    styles = list(Style.objects.values_list("pk", flat=True)[:12]) or [None]
    now = timezone.now()
    has_team = any(field.name == "team" for field in JobSet._meta.get_fields())
    for start in range(first, first + count, CHUNK):
        numbers = range(start, min(first + count, start + CHUNK))
        job_sets = [
            _job_set(n, total, now, user, team if has_team else None, prices, styles, rng) for n in numbers
        ]
        with transaction.atomic():
            JobSet.objects.bulk_create(job_sets, batch_size=1000)
            jobs = [job for job_set in job_sets for job in _jobs(job_set, rng)]
            Job.objects.bulk_create(jobs, batch_size=1000)
    spend_days.rebuild()


def _job_set(n, total, now, user, team, prices, styles, rng) -> JobSet:
    batch_size = 4 if n % 4 == 0 else 1
    quality = rng.choice(params.QUALITIES)
    status = rng.choices([s for s, _ in OUTCOMES], [w for _, w in OUTCOMES])[0]
    created = now - SPACING * (total - n)
    sent = created + timedelta(seconds=rng.uniform(0.05, 1.0))
    finished = sent + timedelta(seconds=rng.uniform(2.0, 10.0))
    charge = {
        JobSet.Status.COMPLETED: JobSet.Charge.CHARGED,
        JobSet.Status.UNCONFIRMED: JobSet.Charge.RESERVED,
    }.get(status, JobSet.Charge.RELEASED)
    reasons = {
        JobSet.Status.FAILED: "The gateway could not generate the image (1 failed). Nothing was charged.",
        JobSet.Status.NSFW: "The gateway blocked the result as NSFW. Nothing was charged.",
        JobSet.Status.CANCELED: "Canceled before it was sent. Nothing was charged.",
        JobSet.Status.UNCONFIRMED: "The gateway did not answer within 30 s. It may have accepted it.",
        JobSet.Status.EXPIRED: "The gateway did not finish it within 2 hours, so soulsite stopped checking.",
    }
    style = rng.choice(styles) if rng.random() < 0.4 else None
    fields = {
        "user": user,
        "prompt": f"{rng.choice(WORDS)}, {rng.choice(WORDS)} #{n}",
        "width_and_height": rng.choice(params.SIZES),
        "quality": quality,
        "batch_size": batch_size,
        "seed": rng.randint(params.SEED_MIN, params.SEED_MAX) if rng.random() < 0.3 else None,
        "enhance_prompt": rng.random() < 0.2,
        "style_id": style,
        "style_strength": None if style is None else round(rng.uniform(0.3, 1.0), 2),
        "upstream_id": None if status == JobSet.Status.CANCELED else str(uuid.uuid4()),
        "status": status,
        "status_reason": reasons.get(status, ""),
        "price": prices[(quality, batch_size)],
        "charge": charge,
        "created_at": created,
        "sent_at": None if status == JobSet.Status.CANCELED else sent,
        "finished_at": finished,
        "send_attempts": 0 if status == JobSet.Status.CANCELED else 1,
        "polls": rng.randint(1, 8),
    }
    if team is not None:
        fields["team"] = team
    return JobSet(**fields)


def _jobs(job_set: JobSet, rng: random.Random) -> list[Job]:
    if job_set.status in (JobSet.Status.CANCELED, JobSet.Status.UNCONFIRMED):
        return []  # never sent, or no answer: no jobs known
    jobs = []
    width, height = params.parse_size(job_set.width_and_height)
    for index in range(job_set.batch_size):
        status = {
            JobSet.Status.COMPLETED: "completed",
            JobSet.Status.FAILED: "failed",
            JobSet.Status.NSFW: "nsfw",
            JobSet.Status.EXPIRED: "in_progress",
        }[job_set.status]
        if status == "completed" and job_set.batch_size == 4 and rng.random() < 0.05:
            status = "failed"  # a batch that finished partly
        upstream = str(uuid.uuid4())
        job = Job(job_set=job_set, index=index, upstream_id=upstream, status=status)
        if status in contract.TERMINAL_STATUSES:
            job.finished_at = job_set.finished_at
        if status == "completed":
            folder = f"results/{job_set.created_at:%Y/%m}/{job_set.pk}"
            job.raw_url = f"https://cdn.example.com/{upstream}/raw.png"
            job.min_url = f"https://cdn.example.com/{upstream}/min.png"
            job.image, job.preview = f"{folder}/{index}-raw.png", f"{folder}/{index}-min.png"
            job.width, job.height = width, height
            job.downloaded_at = job_set.finished_at
            job.download_attempts = 1
        jobs.append(job)
    return jobs
