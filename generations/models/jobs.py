"""Job sets (one generateSoul request each), their jobs (one image each) and attempt history."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from generations.models.catalogue import Style
from generations.models.explorations import Exploration
from generations.models.references import Character, ReferenceUpload
from generations.models.request import SoulRequest
from generations.models.teams import Team
from soulwire import contract, params


class JobSet(models.Model):
    """One generateSoul request: what a person asked for and what became of it."""

    class Status(models.TextChoices):
        WAITING = "waiting", "Waiting"  # queued here, not yet sent upstream
        SENDING = "sending", "Sending"  # a worker is sending it right now
        SUBMITTED = "submitted", "Queued upstream"
        IN_PROGRESS = "in_progress", "In progress"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        NSFW = "nsfw", "Blocked as NSFW"
        CANCELED = "canceled", "Canceled"
        UNCONFIRMED = "unconfirmed", "Unconfirmed"  # sent, but no answer: a person decides
        EXPIRED = "expired", "Expired"  # upstream never finished it

    class Charge(models.TextChoices):
        RESERVED = "reserved", "Reserved"
        CHARGED = "charged", "Charged"
        RELEASED = "released", "Released"

    # The request's parameters, in the API's order (their names are the API's, style as a row).
    PARAMETER_FIELDS = (
        "prompt",
        "width_and_height",
        "quality",
        "batch_size",
        "seed",
        "enhance_prompt",
        "style",
        "style_strength",
        "custom_reference_id",
        "character",
        "custom_reference_strength",
        "image_reference_image_url",
        "reference_upload",
    )

    # The status sets, named once: everything else (lifecycle, queries, views, bench, tests) uses these.
    # Not finished yet: waiting here, being sent, or with the gateway.
    PENDING = (Status.WAITING, Status.SENDING, Status.SUBMITTED, Status.IN_PROGRESS)
    # Counted against the in-flight cap: sent, or being sent, and not finished.
    IN_FLIGHT = (Status.SENDING, Status.SUBMITTED, Status.IN_PROGRESS)
    # Accepted by the gateway and not finished: what the tracker polls.
    POLLED = (Status.SUBMITTED, Status.IN_PROGRESS)
    # Pending ones a worker takes up when their ``due_at`` comes (one being sent is its sender's).
    SCHEDULED = (Status.WAITING, *POLLED)
    # Finished without images to show (the gallery's "failed" filter).
    UNSUCCESSFUL = (Status.FAILED, Status.NSFW, Status.CANCELED, Status.UNCONFIRMED, Status.EXPIRED)
    # Finished, one way or another: nothing more happens to it by itself.
    TERMINAL = (Status.COMPLETED, *UNSUCCESSFUL)

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="job_sets")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="job_sets", null=True, blank=True)

    # What was asked, parameter by parameter, named as in the API.
    prompt = models.TextField()
    width_and_height = models.CharField(max_length=9, choices=[(s, s) for s in params.SIZES])
    quality = models.CharField(max_length=8, choices=[(q, q) for q in params.QUALITIES])
    batch_size = models.PositiveSmallIntegerField(choices=[(b, str(b)) for b in params.BATCH_SIZES])
    seed = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: random.")
    enhance_prompt = models.BooleanField(default=False)
    style = models.ForeignKey(Style, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    style_strength = models.DecimalField(max_digits=3, decimal_places=2, null=True, blank=True)
    custom_reference_id = models.UUIDField(null=True, blank=True)
    # The saved character it was picked by, for its name (the id above is what was sent).
    character = models.ForeignKey(
        Character, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    custom_reference_strength = models.DecimalField(max_digits=3, decimal_places=2, null=True, blank=True)
    image_reference_image_url = models.URLField(max_length=2083, blank=True)
    # An uploaded reference: sent as a signed public link made when the request goes out.
    reference_upload = models.ForeignKey(
        ReferenceUpload, on_delete=models.PROTECT, null=True, blank=True, related_name="job_sets"
    )

    # What the upstream said.
    upstream_id = models.CharField("upstream job set id", max_length=64, null=True, blank=True, unique=True)
    idempotency_key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    input_params = models.JSONField(default=dict, blank=True, help_text="What the upstream applied.")

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.WAITING, db_index=True)
    status_reason = models.TextField(blank=True, help_text="Why it is in this state, in plain words.")

    price = models.DecimalField(max_digits=8, decimal_places=2, help_text="USD, snapshot at submission.")
    charge = models.CharField(max_length=8, choices=Charge.choices, default=Charge.RESERVED)
    # Every image hidden (see generations.actions.hiding): the gallery leaves it out without reading jobs.
    hidden = models.BooleanField(default=False, editable=False)

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    # Tracking: when a worker should next act on it, and which worker holds it.
    due_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=100, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    # The job set gave its in-flight slot back while still with the gateway: it ran past the stuck
    # bound, or a person chose "stop waiting" (slot_freed_by). It is still polled, more slowly,
    # and charged as usual when it finishes; it no longer counts against the in-flight limit.
    slot_freed_at = models.DateTimeField(null=True, blank=True)
    slot_freed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    send_attempts = models.PositiveIntegerField(default=0)
    polls = models.PositiveIntegerField(default=0)
    poll_errors = models.PositiveIntegerField(default=0, help_text="Failed polls in a row.")

    # Webhooks (only when SOUL_PUBLIC_URL is set): the callback URL carries the
    # token; the secret signs the callback (Standard Webhooks).
    webhook_token = models.CharField(max_length=64, null=True, blank=True, unique=True, editable=False)
    webhook_secret = models.CharField(max_length=100, blank=True, editable=False)

    # One combination of an exploration (several styles, seeds... from one form send), if it is one:
    # its place in the exploration's grid and what it tried ("Realistic · seed 11").
    exploration = models.ForeignKey(
        Exploration, on_delete=models.PROTECT, null=True, blank=True, related_name="job_sets"
    )
    exploration_index = models.PositiveSmallIntegerField(null=True, blank=True)
    exploration_label = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="jobset_user_newest"),
            models.Index(fields=["status", "due_at"], name="jobset_due"),
            # The sender's loose index scan of the line (generations/lifecycle/line.py).
            models.Index(fields=["status", "user", "team", "created_at"], name="jobset_line"),
            models.Index(fields=["team", "created_at"], name="jobset_team_time"),
            # The gallery's first page: a team's shown job sets, newest first.
            models.Index(fields=["team", "hidden", "-id"], name="jobset_gallery"),
            models.Index(fields=["user", "created_at"], name="jobset_user_time"),
            # Cover all-time spend sums, so they read the index and not the table.
            models.Index(fields=["user", "charge", "price"], name="jobset_user_spend"),
            models.Index(fields=["team", "charge", "price"], name="jobset_team_spend"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.prompt[:40]}"

    @property
    def is_pending(self) -> bool:
        return self.status in self.PENDING

    @property
    def is_taking_long(self) -> bool:
        """Still with the gateway, past the bound on stuck: it gave its slot back by itself."""
        return self.slot_freed_at is not None and self.slot_freed_by_id is None and self.status in self.POLLED

    # What get_status_display() and get_charge_display() say, without rebuilding the choices
    # on every call: a card asks several times, and a page draws 24 cards.
    _STATUS_LABELS = dict(Status.choices)
    _CHARGE_LABELS = dict(Charge.choices)

    @property
    def status_label(self) -> str:
        return self._STATUS_LABELS.get(self.status, self.status)

    @property
    def charge_label(self) -> str:
        return self._CHARGE_LABELS.get(self.charge, self.charge)

    @property
    def has_failed_download(self) -> bool:
        """A finished image its card shows that we could not store (``browse.card_jobs`` fetched them)."""
        return any(job.needs_download and job.download_error for job in self.card_jobs)

    def soul_request(self) -> SoulRequest:
        """What was asked, as the request value (see generations.models.request)."""
        return SoulRequest.from_job_set(self)


def result_path(job: Job, filename: str) -> str:
    return f"results/{job.job_set.created_at:%Y/%m}/{job.job_set_id}/{filename}"


class Job(models.Model):
    """One image of a job set (a batch of 4 has four)."""

    # Soul's job statuses (soulwire.contract): an unknown one counts as neither pending nor terminal.
    QUEUED, COMPLETED = contract.QUEUED, contract.COMPLETED
    PENDING = contract.PENDING_STATUSES
    TERMINAL = contract.TERMINAL_STATUSES

    job_set = models.ForeignKey(JobSet, on_delete=models.CASCADE, related_name="jobs")
    index = models.PositiveSmallIntegerField()
    upstream_id = models.CharField("upstream job id", max_length=64)
    # Soul's status string as received, unknown ones included.
    status = models.CharField(max_length=32, default=QUEUED)
    raw_url = models.URLField(max_length=2083, blank=True, help_text="Upstream full-size result.")
    min_url = models.URLField(max_length=2083, blank=True, help_text="Upstream preview.")

    image = models.FileField(upload_to=result_path, blank=True, max_length=255)
    preview = models.FileField(upload_to=result_path, blank=True, max_length=255)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)

    finished_at = models.DateTimeField(null=True, blank=True, help_text="When we first saw it terminal.")
    downloaded_at = models.DateTimeField(null=True, blank=True)
    download_attempts = models.PositiveSmallIntegerField(default=0)
    download_error = models.TextField(blank=True)

    # Hidden from the gallery (a soft delete: the record of what was paid for stays).
    hidden_at = models.DateTimeField(null=True, blank=True)
    hidden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Someone downloaded the full image: it was kept (counts toward "cost per kept image").
    kept_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["job_set", "index"]
        constraints = [models.UniqueConstraint(fields=["job_set", "index"], name="one_job_per_index")]

    def __str__(self) -> str:
        return f"{self.job_set_id}/{self.index} {self.status}"

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL

    @property
    def needs_download(self) -> bool:
        return self.status == self.COMPLETED and not self.image and bool(self.raw_url)


class Attempt(models.Model):
    """One exchange with the gateway about a job set: what was asked, what came back.

    Every submit, every failed request and every poll that changed something is
    kept, so an admin can see why a job set is where it is.
    """

    class Kind(models.TextChoices):
        SUBMIT = "submit", "Submit"
        POLL = "poll", "Poll"
        DOWNLOAD = "download", "Download"
        WEBHOOK = "webhook", "Webhook received"
        ADMIN = "admin", "Admin action"
        # Cancel, stop waiting, let go, clear mine: who did what to the job set, from the page.
        QUEUE = "queue", "Queue action"

    job_set = models.ForeignKey(JobSet, on_delete=models.CASCADE, related_name="attempts")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    at = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    asked = models.TextField(blank=True, help_text="What was asked (never the key).")
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    ok = models.BooleanField(default=True)
    answer = models.TextField(blank=True, help_text="What came back, or the upstream's message.")

    class Meta:
        ordering = ["job_set", "at", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.status_code or ''} at {self.at:%H:%M:%S}"
