"""The Soul gateway's wire contract, defined once: paths, headers, job statuses, known styles.

The app's HTTP client, the sandbox gateway (``soulsandbox``) and the tests all take
these names from here, so a path or a status cannot be spelled differently in two places.
What each one means, and what is known or unknown about it, is written down in
``docs/UPSTREAM.md``; the parameters of a submit live in :mod:`soulwire.params`, the
webhook signatures in :mod:`soulwire.signing`.

Standard library only: the sandbox imports this without Django.

The documented response shapes (see ``docs/UPSTREAM.md`` for samples):

- submit: ``{"type", "created_at", "jobs": [job, ...], "input_params", "job_set_id"}``
- poll (and a webhook's body): the same, with ``id`` instead of ``job_set_id``
- a job: ``{"id", "job_set_type", "status", "results"}``, ``results`` null until the job is
  completed, then ``{"min": {"url", "type": "image"}, "raw": {"url", "type": "image"}}``
- styles: ``[{"id", "name", "description", "preview_url"}]``
"""

from __future__ import annotations

# --- Endpoints (base https://gateway.pixazo.ai) ----------------------------------------

SUBMIT_PATH = "/ai-model-api/v1/generateSoul"  # POST, the parameters as flat JSON
POLL_PATH = "/ai-model-api-polling/getGenerationResults"  # POST {"job_set_id": "<uuid>"}
# GET. The vendor names only ``/getTextToImageGetSoulStyles``: the full path and the method
# are a guess, so the client's is configurable (SOUL_STYLES_PATH) and this is its default.
STYLES_PATH = "/ai-model-api-polling/getTextToImageGetSoulStyles"

# --- Headers ---------------------------------------------------------------------------

# Azure API Management's subscription key header: the gateway's only authentication.
KEY_HEADER = "Ocp-Apim-Subscription-Key"
# Honoured by Higgsfield's own API; a retried submit with the same key is not charged twice.
IDEMPOTENCY_HEADER = "Idempotency-Key"

# --- Job sets and jobs -------------------------------------------------------------------

# The ``type`` of a Soul job set and the ``job_set_type`` of each of its jobs.
JOB_SET_TYPE = "text2image_soul"

# Per-job statuses. A job set is finished only when every job is terminal.
# An unknown status is treated as not terminal (and recorded by the caller).
QUEUED = "queued"
IN_PROGRESS = "in_progress"
COMPLETED = "completed"
FAILED = "failed"
NSFW = "nsfw"
CANCELED = "canceled"
PENDING_STATUSES = frozenset({QUEUED, IN_PROGRESS})
TERMINAL_STATUSES = frozenset({COMPLETED, FAILED, NSFW, CANCELED})
# Spellings seen in other Pixazo responses, mapped onto Soul's.
STATUS_ALIASES = {
    "succeeded": COMPLETED,
    "success": COMPLETED,
    "cancelled": CANCELED,
    "in-progress": IN_PROGRESS,
    "processing": IN_PROGRESS,
    "pending": QUEUED,
}


def normalize_status(status: object) -> str:
    """Soul's spelling of a job status ('' when missing)."""
    text = str(status or "").strip().lower()
    return STATUS_ALIASES.get(text, text)


# --- Styles ------------------------------------------------------------------------------

# The style a submit without ``style_id`` gets.
GENERAL_STYLE_ID = "464ea177-8d40-4940-8d9d-b438bab269c7"

# The known public Soul styles, (id, name), General first. The gateway lists about a hundred;
# these are the ones public material names, so soulsite has a catalogue before its first sync
# and the sandbox serves the same ids.
PUBLIC_STYLES: tuple[tuple[str, str], ...] = (
    (GENERAL_STYLE_ID, "General"),
    ("1cb4b936-77bf-4f9a-9039-f3d349a4cdbe", "Realistic"),
    ("a5f63c3b-70eb-4979-af5e-98c7ee1e18e8", "Giant People"),
    ("b3c8075a-cb4c-42de-b8b3-7099dd2df672", "Creatures"),
    ("1fc861ed-5923-41a6-9963-b9f04681dddd", "Medieval"),
    ("40ff999c-f576-443c-b5b3-c7d1391a666e", "Spotlight"),
    ("ca4e6ad3-3e93-4e03-81a0-d1722d2c128b", "DigitalCam"),
    ("6fb3e1f5-d721-4523-ac38-9902f2b2b850", "Library"),
    ("d2e8ba04-9935-4dee-8bc4-39ac789746fc", "Subway"),
    ("1b798b54-03da-446a-93bf-12fcba1050d7", "iPhone"),
    ("ff1ad8a2-94e7-4e70-a12f-e992ca9a0d36", "Quiet luxury"),
    ("7696fd45-6e67-47d7-b800-096ce21cd449", "Sitting on the Street"),
)
