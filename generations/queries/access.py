"""Reads: what a person may see, gallery pages, spend totals."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Count, Q, QuerySet, Sum

from generations.models import Job, JobSet, Membership, SpendDay, Team
from generations.spend import cents


def my_team_ids(user) -> QuerySet:
    return Membership.objects.filter(user=user).values("team_id")


def visible_job_sets(user) -> QuerySet[JobSet]:
    """What ``user`` may see: the work of every team they belong to (staff: everything)."""
    if user.is_staff:
        return JobSet.objects.all()
    return JobSet.objects.filter(Q(team__in=my_team_ids(user)) | Q(team__isnull=True, user=user))


def visible_jobs(user) -> QuerySet[Job]:
    return Job.objects.filter(job_set__in=visible_job_sets(user))


def may_manage(user, job_set: JobSet) -> bool:
    """Stopping or changing a job set is for its owner, its team's managers and staff."""
    if user.is_staff or job_set.user_id == user.pk:
        return True
    return Membership.objects.filter(
        user=user, team_id=job_set.team_id, role=Membership.Role.MANAGER
    ).exists()


def queue_positions(job_sets: list[JobSet]) -> dict[int, int]:
    """Place in the local queue (1 = next to be sent) of each waiting job set given."""
    waiting = [js for js in job_sets if js.status == JobSet.Status.WAITING]
    if not waiting:
        return {}
    oldest = min(js.id for js in waiting)
    ahead = JobSet.objects.filter(status=JobSet.Status.WAITING, id__gte=oldest).values_list("id", flat=True)
    ordered = sorted(ahead)
    base = JobSet.objects.filter(status=JobSet.Status.WAITING, id__lt=oldest).aggregate(n=Count("id"))["n"]
    position = {pk: base + index + 1 for index, pk in enumerate(ordered)}
    return {js.id: position[js.id] for js in waiting if js.id in position}


def member_spend(team: Team) -> dict[int, dict[str, Decimal]]:
    """Each member's spend in ``team``: charged and reserved, by user id (from the daily roll-up)."""
    rows = (
        SpendDay.objects.filter(team=team)
        .values("user_id")
        .annotate(charged=Sum("charged"), reserved=Sum("reserved"), count=Sum("job_sets"))
    )
    return {
        row["user_id"]: {
            "charged": cents(row["charged"]),
            "reserved": cents(row["reserved"]),
            "count": row["count"],
        }
        for row in rows
    }


def same_request_done(team, form) -> list[JobSet]:
    """Finished job sets of ``team`` with exactly this request and a fixed seed (worth offering first)."""
    fields = form.job_set_fields()
    if team is None or fields["seed"] is None or fields["reference_upload"] is not None:
        return []
    match = {
        name: fields[name]
        for name in JobSet.PARAMETER_FIELDS
        if name not in ("character", "reference_upload")
    }
    if match["style"] is None:
        match["style__isnull"] = True
        del match["style"]
    return list(
        JobSet.objects.filter(team=team, status=JobSet.Status.COMPLETED, **match)
        .select_related("user")
        .prefetch_related("jobs")
        .order_by("-id")[:3]
    )
