"""docs/PERMISSIONS.md's rows for the queue's controls (issue 21): how tests/test_permissions.py makes
each request and tells whether it was done (kept apart so that file stays short)."""

from __future__ import annotations

from django.utils import timezone

from generations.models import JobSet
from tests.factories import make_job_set


def register(case, post, owner, _status) -> None:
    """Add the queue's rows to test_permissions.CASES (its ``case``, ``post``, ``owner``, ``_status``)."""

    def _sent(by, prompt: str) -> JobSet:
        job_set = make_job_set(by, prompt=prompt)
        JobSet.objects.filter(pk=job_set.pk).update(
            status=JobSet.Status.IN_PROGRESS, sent_at=timezone.now(), upstream_id=f"up-{job_set.pk}"
        )
        return job_set

    def _stop_waiting(w, by, name: str = "stop-waiting"):
        sent = _sent(by, "sent, then given up")
        return post(name, sent.pk, done=lambda r: JobSet.objects.get(pk=sent.pk).slot_freed_at is not None)

    case("Stop waiting for a sent job set you asked for")(lambda w, role: _stop_waiting(w, owner(w, role)))
    case("Stop waiting for a teammate's sent job set")(lambda w, role: _stop_waiting(w, w.tess))
    case("Let go of a teammate's job set")(lambda w, role: _stop_waiting(w, w.tess, "let-go"))

    @case('Cancel all your own waiting job sets ("Clear mine")')
    def _clear_mine(w, role: str):
        teammates = make_job_set(w.tess, prompt="a teammate's, never cleared by another")
        person = w.users[role]
        own = (
            make_job_set(person, prompt="mine, to clear") if role in ("member", "manager", "other") else None
        )

        def done(response) -> bool:
            return (
                own is not None and _status(own) == JobSet.Status.CANCELED and _status(teammates) == "waiting"
            )

        return post("clear-mine", done=done)

    def _paused(w) -> bool:
        w.team_a.refresh_from_db()
        return w.team_a.queue_paused_at is not None

    case("Pause the team's queue")(lambda w, role: post("pause-queue", done=lambda r: _paused(w)))

    @case("Resume the team's queue")
    def _resume_queue(w, role: str):
        type(w.team_a).objects.filter(pk=w.team_a.pk).update(queue_paused_at=timezone.now())
        return post("resume-queue", done=lambda r: not _paused(w))
