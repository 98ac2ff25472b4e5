"""A job set in the sandbox: what a submit creates, and how it looks at any instant.

Statuses are not stored: they follow from the wall clock. Jobs are ``queued`` until
``in_progress_at``, then ``in_progress``, then terminal from ``terminal_at`` (math.inf for a
job set that never finishes). The prompt picks the outcome: the word ``nsfw`` makes every
job ``nsfw``, ``fail`` makes every job ``failed``, ``partial`` in a batch of 4 fails jobs 2
and 4, and ``forever`` keeps every job ``in_progress`` for ever.
"""

from __future__ import annotations

import math
import random
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from soulwire import contract, params

_NSFW_RE = re.compile(r"\bnsfw\b", re.IGNORECASE)
_FAIL_RE = re.compile(r"\bfail\b", re.IGNORECASE)
_PARTIAL_RE = re.compile(r"\bpartial\b", re.IGNORECASE)
_FOREVER_RE = re.compile(r"\bforever\b", re.IGNORECASE)
# Where a completed job's images are served (see result_urls).
RESULT_RE = re.compile(r"^/results/([0-9a-f-]{36})/(raw|min)\.png$")


def outcomes_for(prompt: str, batch_size: int) -> list[str]:
    """The terminal status of each job, chosen by words in the prompt."""
    if _NSFW_RE.search(prompt):
        return [contract.NSFW] * batch_size
    if _FAIL_RE.search(prompt):
        return [contract.FAILED] * batch_size
    if _PARTIAL_RE.search(prompt) and batch_size == 4:
        return [contract.COMPLETED, contract.FAILED, contract.COMPLETED, contract.FAILED]
    return [contract.COMPLETED] * batch_size


def never_finishes(prompt: str) -> bool:
    """True when the prompt holds the word ``forever``: its job set stays in progress."""
    return bool(_FOREVER_RE.search(prompt))


def batch_size_of(body: dict) -> int:
    return body.get("batch_size") or params.DEFAULT_BATCH_SIZE


def applied_params(body: dict, seed: int) -> dict:
    """What the upstream echoes as applied (``input_params``): defaults filled in, references expanded."""
    width, height = params.parse_size(body["width_and_height"])
    reference_id = body.get("custom_reference_id")
    image_url = body.get("image_reference_image_url")

    def given(name: str, default: object) -> object:
        value = body.get(name)
        return default if value is None else value

    return {
        "prompt": body["prompt"],
        "width": width,
        "height": height,
        "enhance_prompt": given("enhance_prompt", False),
        "style_id": given(params.STYLE_FIELD, params.GENERAL_STYLE_ID),
        "style_strength": given("style_strength", 1),
        "seed": seed,
        "custom_reference": None if reference_id is None else {"id": reference_id},
        "custom_reference_strength": given("custom_reference_strength", 1),
        "image_reference": (
            None if image_url is None else {"id": str(uuid.uuid4()), "type": "media_input", "url": image_url}
        ),
        # The upstream's default quality is unknown; the sandbox applies the contract's default.
        "quality": given("quality", params.DEFAULT_QUALITY),
        "batch_size": batch_size_of(body),
    }


def job_shape(job_id: str, status: str, results: dict | None) -> dict:
    """One job as the submit and poll answers show it."""
    return {"id": job_id, "job_set_type": contract.JOB_SET_TYPE, "status": status, "results": results}


def result_urls(base_url: str, job_id: str) -> dict:
    """A completed job's ``results``: the preview (``min``) and the full image (``raw``)."""
    return {
        "min": {"url": f"{base_url}/results/{job_id}/min.png", "type": "image"},
        "raw": {"url": f"{base_url}/results/{job_id}/raw.png", "type": "image"},
    }


def _iso_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class JobSet:
    id: str
    created_at: str
    submitted_at: float
    in_progress_at: float
    terminal_at: float  # math.inf for a job set that never finishes
    input_params: dict
    job_ids: list[str]
    outcomes: list[str]
    submit_response: dict = field(default_factory=dict)
    base_url: str = ""  # where the webhook body's result URLs point
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)
    polls_seen: int = 0

    @property
    def finishes(self) -> bool:
        return self.terminal_at != math.inf

    def status(self, index: int, now: float) -> str:
        if now >= self.terminal_at:
            return self.outcomes[index]
        return contract.IN_PROGRESS if now >= self.in_progress_at else contract.QUEUED

    def view(self, now: float, base_url: str) -> dict:
        """The job set as the poll endpoint (and a webhook) shows it at ``now``."""
        jobs = []
        for index, job_id in enumerate(self.job_ids):
            status = self.status(index, now)
            results = result_urls(base_url, job_id) if status == contract.COMPLETED else None
            jobs.append(job_shape(job_id, status, results))
        return {
            "id": self.id,
            "type": contract.JOB_SET_TYPE,
            "created_at": self.created_at,
            "jobs": jobs,
            "input_params": self.input_params,
        }


def new_job_set(
    body: dict,
    seed: int,
    *,
    now: float,
    queue_seconds: float,
    complete_range: tuple[float, float],
    never_finish: bool,
    base_url: str,
) -> JobSet:
    """A job set for a validated submit ``body``, its submit answer included.

    It finishes at a uniformly random instant in ``complete_range`` seconds after ``now``,
    or never (``never_finish``, or the word ``forever`` in the prompt).
    """
    low, high = complete_range
    batch_size = batch_size_of(body)
    input_params = applied_params(body, seed)
    forever = never_finish or never_finishes(body["prompt"])
    hook_url, hook_secret = body.get("webhook_url"), body.get("webhook_secret")
    has_hook = isinstance(hook_url, str) and isinstance(hook_secret, str)
    job_set = JobSet(
        id=str(uuid.uuid4()),
        created_at=_iso_now(),
        submitted_at=now,
        in_progress_at=now + queue_seconds,
        terminal_at=math.inf if forever else now + random.uniform(low, high),
        input_params=input_params,
        job_ids=[str(uuid.uuid4()) for _ in range(batch_size)],
        outcomes=outcomes_for(body["prompt"], batch_size),
        base_url=base_url.rstrip("/"),
        webhook_url=hook_url if has_hook else None,
        webhook_secret=hook_secret if has_hook else None,
    )
    # The upstream answers a submit before any work starts: every job is queued.
    job_set.submit_response = {
        "type": contract.JOB_SET_TYPE,
        "created_at": job_set.created_at,
        "jobs": [job_shape(job_id, contract.QUEUED, None) for job_id in job_set.job_ids],
        "input_params": input_params,
        "job_set_id": job_set.id,
    }
    return job_set
