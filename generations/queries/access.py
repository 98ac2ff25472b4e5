"""Who may see and change what, each rule written once (docs/PERMISSIONS.md is the table).

Every view that shows or changes a job set or an image starts from these, so a
person never reaches another team's work by changing a number in a URL; every view and
template that decides whether someone may do something asks one of the ``may_*`` rules
below rather than looking at roles itself. tests/test_permissions.py performs every cell
of the table as a real request.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from generations.models import Character, Job, JobSet, Membership, SoulRequest, Team
from generations.queries import teams

# The spend page's scopes: a person's own, their team's, every team's.
MINE, TEAM, ALL = "mine", "team", "all"


def visible_job_sets(user) -> QuerySet[JobSet]:
    """What ``user`` may see: the work of every team they belong to (staff: everything)."""
    if user.is_staff:
        return JobSet.objects.all()
    return JobSet.objects.filter(Q(team__in=teams.team_ids(user)) | Q(team__isnull=True, user=user))


def visible_jobs(user) -> QuerySet[Job]:
    return Job.objects.filter(job_set__in=visible_job_sets(user))


def may_manage(user, job_set: JobSet, membership: Membership | None = None) -> bool:
    """Cancelling a waiting job set or retrying its downloads: its owner, its team's managers, staff.

    ``membership``: the person's current one, if at hand; when it is in the job set's team, no
    query is made (a gallery page asks for every card).
    """
    if user.is_staff or job_set.user_id == user.pk:
        return True
    return may_run_team(user, job_set.team_id, membership)


def may_stop_waiting(user, job_set: JobSet, membership: Membership | None = None) -> bool:
    """Cancelling a waiting job set or giving back the slot of a sent one: as may_manage (its owner,
    its team's managers, staff), so a person is never stuck behind their own mistake."""
    return may_manage(user, job_set, membership)


def may_let_go(user, job_set: JobSet, membership: Membership | None = None) -> bool:
    """Letting go of anyone's job set in the team (cancel or stop waiting): its managers and staff."""
    return user.is_authenticated and (user.is_staff or may_run_team(user, job_set.team_id, membership))


def may_clear_mine(user, membership: Membership | None) -> bool:
    """Cancelling all of one's own waiting job sets in the current team: anyone in a team."""
    return user.is_authenticated and membership is not None


def may_pause_queue(user, team_id: int | None, membership: Membership | None = None) -> bool:
    """Pausing and resuming the team's queue: those who run the team (may_run_team)."""
    return may_run_team(user, team_id, membership)


def may_run_team(user, team_id: int | None, membership: Membership | None = None) -> bool:
    """Running a team: adding, inviting and removing people, changing roles, setting budgets,
    seeing each member's spend, removing anyone's character. Its managers, and staff who are in it.

    ``membership``: the person's membership in that team if at hand (else it is looked up).
    """
    if not user.is_authenticated or team_id is None:
        return False
    if membership is None or membership.team_id != team_id:
        membership = Membership.objects.filter(user=user, team_id=team_id).first()
    return membership is not None and (membership.is_manager or user.is_staff)


def managed_team(user) -> Team | None:
    """The team ``user`` works in, if they may run it (may_run_team); else None."""
    membership = teams.current_membership(user)
    if membership is None or not may_run_team(user, membership.team_id, membership):
        return None
    return membership.team


def may_delete_character(user, character: Character, membership: Membership | None = None) -> bool:
    """Removing a saved character: whoever added it, and those who run its team (not every member)."""
    if not user.is_authenticated:
        return False
    return character.created_by_id == user.pk or may_run_team(user, character.team_id, membership)


def spend_scopes(user, membership: Membership | None) -> tuple[str, ...]:
    """Whose spend ``user`` may see: their own; their team's if they run it; every team's for staff."""
    scopes = [MINE]
    if membership is not None and may_run_team(user, membership.team_id, membership):
        scopes.append(TEAM)
    if user.is_staff:
        scopes.append(ALL)
    return tuple(scopes)


def same_request_done(team, request: SoulRequest) -> list[JobSet]:
    """Finished job sets of ``team`` with exactly this request and a fixed seed (worth offering first)."""
    if team is None or request.seed is None or request.reference_upload_id is not None:
        return []
    # A None matches an empty field (Django reads ``field=None`` as ``field__isnull=True``).
    match = {
        name: value
        for name, value in request.job_set_fields().items()
        if name not in ("character_id", "reference_upload_id")
    }
    return list(
        JobSet.objects.filter(team=team, status=JobSet.Status.COMPLETED, **match)
        .select_related("user")
        .prefetch_related("jobs")
        .order_by("-id")[:3]
    )
