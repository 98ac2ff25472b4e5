"""Who may see and change what: the job sets and images a person may see, and who may manage a job set.

Every view that shows or changes a job set or an image starts from these, so a
person never reaches another team's work by changing a number in a URL.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from generations.models import Job, JobSet, SoulRequest
from generations.queries import teams


def visible_job_sets(user) -> QuerySet[JobSet]:
    """What ``user`` may see: the work of every team they belong to (staff: everything)."""
    if user.is_staff:
        return JobSet.objects.all()
    return JobSet.objects.filter(Q(team__in=teams.team_ids(user)) | Q(team__isnull=True, user=user))


def visible_jobs(user) -> QuerySet[Job]:
    return Job.objects.filter(job_set__in=visible_job_sets(user))


def may_manage(user, job_set: JobSet) -> bool:
    """Stopping or changing a job set is for its owner, its team's managers and staff."""
    return user.is_staff or job_set.user_id == user.pk or teams.manages(user, job_set.team_id)


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
