"""The spend page and its CSV export: who spent what, on what, and when."""

from __future__ import annotations

from django.core.exceptions import BadRequest
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from generations.queries import access, explorations, spend, spend_report, teams
from generations.web import query_forms, safe_csv

SCOPES = {"mine": "My spend", "team": "My team", "all": "Every team"}


def _scope(request: HttpRequest):
    """Which job sets the page may count: mine; my team's if I manage it; everything for staff.

    Returned as filters that pick them from job sets and from the daily roll-up alike.
    """
    membership = teams.current_membership(request.user)
    allowed = access.spend_scopes(request.user, membership)
    wanted = request.GET.get("scope", access.TEAM if access.TEAM in allowed else access.MINE)
    if wanted == access.ALL and wanted in allowed:
        return "all", {}, membership
    if wanted == access.TEAM and wanted in allowed:
        return "team", {"team": membership.team}, membership
    team = membership.team if membership else None
    return "mine", {"user": request.user, "team": team}, membership


@require_GET
def spend_page(request: HttpRequest) -> HttpResponse:
    scope, filters, membership = _scope(request)
    period_form = query_forms.SpendPeriodForm(request.GET)
    period = period_form.period()
    report = spend_report.build(filters, period, by_team=scope == "all")
    listed = spend_report.job_sets(filters, period).order_by("-created_at", "-id")
    paginator = Paginator(listed, 50)
    paginator.count = report.count  # the roll-up has counted them: no second count over the period
    page = paginator.get_page(request.GET.get("page"))
    team = membership.team if membership else None
    context = {
        "scope": scope,
        "scopes": {
            key: label
            for key, label in SCOPES.items()
            if key in access.spend_scopes(request.user, membership)
        },
        "report": report,
        "chart": spend_report.chart(report.daily),
        "period_form": period_form,
        "page": page,
        "query": f"scope={scope}&{period.query_string()}",
        "days": request.GET.get("days", "" if request.GET.get("from") else "30"),
        "mine": spend.period_totals(user=request.user),
        "team_totals": spend.period_totals(team=team) if team else None,
        "team": team,
        "budgets": spend.budget_states(request.user, team),
        # Each exploration's total over its combinations in this period (its rows are in the list below).
        "explorations": explorations.spent(filters, period.start, period.end),
    }
    return render(request, "generations/spend.html", context)


@require_GET
def spend_csv(request: HttpRequest) -> HttpResponse:
    """The job sets behind the page's numbers; the "counted" column adds up to the page's total."""
    scope, filters, _ = _scope(request)
    period_form = query_forms.SpendPeriodForm(request.GET)
    period = period_form.period()
    if period_form.errors:
        # The page links here with the period it showed, so bad dates are a broken link.
        raise BadRequest("The period did not parse.")
    rows = spend_report.job_sets(filters, period).order_by("created_at", "id")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    filename = f"soulsite-spend-{scope}-{period.first}-{period.last}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = safe_csv.writer(response)  # a prompt never runs as a formula in a spreadsheet
    writer.writerow(
        [
            "created",
            "job_set",
            "person",
            "team",
            "prompt",
            "quality",
            "batch_size",
            "style",
            "exploration",
            "combination",
            "status",
            "charge",
            "price",
            "counted",
        ]
    )
    for job_set in rows.iterator(chunk_size=2000):
        counted = spend_report.counted(job_set)
        writer.writerow(
            [
                timezone.localtime(job_set.created_at).isoformat(timespec="seconds"),
                job_set.pk,
                job_set.user.get_username(),
                job_set.team.name if job_set.team else "",
                job_set.prompt,
                job_set.quality,
                job_set.batch_size,
                job_set.style.name if job_set.style else "General (default)",
                # One of an exploration's combinations: which exploration, and what this one tried.
                job_set.exploration_id or "",
                job_set.exploration_label,
                job_set.status,
                job_set.charge,
                f"{job_set.price:.2f}",
                f"{counted:.2f}",
            ]
        )
    return response
