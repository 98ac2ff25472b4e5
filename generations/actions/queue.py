"""What people do to the queue from the page: cancel, stop waiting, clear mine, pause, resume, let go.

Each is one transaction, and each job set it touches gets an Attempt of kind QUEUE naming what was
done and by whom, so the job set's history (details page, admin) says who did it. Who may do
which is decided by the view, with the rules in queries.access; these only do it.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from generations.lifecycle import attempts, finish, send
from generations.models import Attempt, JobSet, Team

Status = JobSet.Status


def _note(job_set_id: int, what: str, user) -> None:
    attempts.note(job_set_id, Attempt.Kind.QUEUE, f"{what} ({user.get_username()})")


def cancel(job_set: JobSet, user, why: str = "before it was sent", what: str = "cancel") -> bool:
    """Cancel a job set still waiting here (never sent, never charged). False if it had been sent.

    ``why`` completes its reason ("Canceled <why> (by …)"); ``what`` names the action in its history.
    """
    with transaction.atomic():
        # Only from waiting: a worker may have claimed it for sending since it was read.
        done = finish.end(
            job_set,
            Status.CANCELED,
            f"Canceled {why} (by {user.get_username()}). Nothing was charged.",
            only_from=Status.WAITING,
        )
        if done:
            _note(job_set.pk, what, user)
    return bool(done)


def stop_waiting(job_set: JobSet, user, what: str = "stop waiting") -> bool:
    """Give back the slot of a job set already with the gateway; keep polling it and charge it as usual.

    Its price stays reserved and is charged or released when the gateway finishes it, and images
    that arrive late still come in: only its place in the in-flight limit goes to the next one.
    False if it is not with the gateway any more, or its slot was already given back.
    """
    with transaction.atomic():
        still_holding = JobSet.objects.filter(
            pk=job_set.pk, status__in=JobSet.POLLED, slot_freed_at__isnull=True
        )
        done = still_holding.update(slot_freed_at=timezone.now(), slot_freed_by=user)
        if done:
            _note(job_set.pk, what, user)
            # The freed slot goes to the next waiting job set: wake the sender once this is committed.
            transaction.on_commit(send.enqueue_send)
    return bool(done)


def let_go(job_set: JobSet, user) -> bool:
    """A manager lets go of anyone's job set in the team: canceled if waiting, stop waiting if sent."""
    if job_set.status == Status.WAITING and cancel(job_set, user):
        return True
    return stop_waiting(job_set, user, what="let go")


def clear_mine(user, team: Team | None) -> int:
    """Cancel all of ``user``'s job sets waiting in ``team``; how many were canceled."""
    if team is None:
        return 0
    count = 0
    with transaction.atomic():
        for job_set in JobSet.objects.filter(user=user, team=team, status=Status.WAITING).order_by("id"):
            count += cancel(job_set, user)
    return count


def pause(team: Team, user) -> bool:
    """Stop sending the team's waiting job sets (they stay waiting). False if it was paused already."""
    with transaction.atomic():
        team = Team.objects.select_for_update().get(pk=team.pk)
        if team.queue_paused_at is not None:
            return False
        team.queue_paused_at, team.queue_paused_by = timezone.now(), user
        team._change_reason, team._history_user = f"queue paused by {user.get_username()}", user
        team.save(update_fields=["queue_paused_at", "queue_paused_by"])
    return True


def resume(team: Team, user) -> bool:
    """Send the team's waiting job sets again. False if it was not paused."""
    with transaction.atomic():
        team = Team.objects.select_for_update().get(pk=team.pk)
        if team.queue_paused_at is None:
            return False
        team.queue_paused_at, team.queue_paused_by = None, None
        team._change_reason, team._history_user = f"queue resumed by {user.get_username()}", user
        team.save(update_fields=["queue_paused_at", "queue_paused_by"])
        transaction.on_commit(send.enqueue_send)
    return True
