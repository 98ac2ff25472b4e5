"""A team's own page: who is in it, and (for managers) adding, inviting, promoting and removing people."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from generations.actions import budgets as budget_actions
from generations.actions import teams as team_actions
from generations.models import Membership, Team
from generations.queries import spend, teams


class AddMemberForm(forms.Form):
    who = forms.CharField(
        label="Username or email",
        help_text="An existing username adds that person. A new email address creates an account and "
        "sends an invitation to choose a password.",
    )
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.MEMBER)

    def clean_who(self) -> str:
        who = self.cleaned_data["who"].strip()
        if "@" in who:
            forms.EmailField().clean(who)
        elif teams.person_named(who) is None:
            raise forms.ValidationError("No one has that username. To invite someone new, enter their email.")
        return who


def _managed_team(request: HttpRequest) -> Team:
    team = teams.managed_team(request.user)
    if team is None:
        raise Http404("Only a team's managers may change it.")
    return team


def _membership(request: HttpRequest, pk: int) -> tuple[Team, Membership]:
    """The managed team and one of its memberships; 404 for another team's."""
    team = _managed_team(request)
    membership = teams.membership_in(team, pk)
    if membership is None:
        raise Http404("No such member in your team.")
    return team, membership


@require_GET
def team(request: HttpRequest) -> HttpResponse:
    membership = teams.current_membership(request.user)
    if membership is None:
        return render(request, "generations/team.html", {"membership": None})
    members = teams.members_of(membership.team)
    context = {
        "membership": membership,
        "team": membership.team,
        "members": members,
        "spend": spend.member_spend(membership.team) if membership.is_manager else {},
        "budgets": spend.team_budgets(membership.team),
        "form": AddMemberForm(),
        "roles": Membership.Role.choices,
    }
    return render(request, "generations/team.html", context)


@require_POST
def add_member(request: HttpRequest) -> HttpResponse:
    team = _managed_team(request)
    form = AddMemberForm(request.POST)
    if not form.is_valid():
        membership = teams.current_membership(request.user)
        context = {
            "membership": membership,
            "team": team,
            "members": teams.members_of(team),
            "form": form,
            "spend": spend.member_spend(team),
            "roles": Membership.Role.choices,
        }
        return render(request, "generations/team.html", context, status=422)
    who, role = form.cleaned_data["who"], form.cleaned_data["role"]
    user, invited = team_actions.add_or_invite(team, who, role, request)
    if invited:
        messages.success(request, f"Invited {who}: they will get an email to choose a password.")
    messages.success(
        request, f"{user.get_username()} is now a {Membership.Role(role).label.lower()} of {team}."
    )
    return redirect("team")


@require_POST
def change_role(request: HttpRequest, pk: int) -> HttpResponse:
    _, membership = _membership(request, pk)
    try:
        team_actions.change_role(membership, request.POST.get("role"), by=request.user)
    except ValueError:
        messages.error(request, "Unknown role.")
    except team_actions.OnlyManager as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, f"{membership.user.get_username()} is now a {membership.get_role_display().lower()}."
        )
    return redirect("team")


@require_POST
def remove_member(request: HttpRequest, pk: int) -> HttpResponse:
    team, membership = _membership(request, pk)
    try:
        team_actions.remove_member(membership, by=request.user)
    except team_actions.OnlyManager as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Removed {membership.user.get_username()} from {team}. Their work stays.")
    return redirect("team")


@require_POST
def switch_team(request: HttpRequest) -> HttpResponse:
    team_id = request.POST.get("team", "")
    if not team_id.isdigit() or not team_actions.switch(request.user, int(team_id)):
        raise Http404("You are not in that team.")
    next_url = request.POST.get("next") or "/"
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = "/"
    return redirect(next_url)


@require_POST
def set_budgets(request: HttpRequest) -> HttpResponse:
    """Save the team's monthly limit and each member's (empty: no limit)."""
    team = _managed_team(request)
    wanted: dict[int | None, Decimal | None] = {}
    problems = []
    fields = {None: "team_budget"} | {m.user_id: f"budget_{m.user_id}" for m in teams.members_of(team)}
    for user_id, field in fields.items():
        if field not in request.POST:
            continue
        text = request.POST[field].strip().lstrip("$")
        if not text:
            wanted[user_id] = None
            continue
        try:
            amount = Decimal(text).quantize(Decimal("0.01"))
        except InvalidOperation:
            problems.append(f"“{text}” is not an amount of dollars.")
            continue
        if amount < 0:
            problems.append("A budget cannot be negative.")
            continue
        wanted[user_id] = amount
    if problems:
        for problem in problems:
            messages.error(request, problem)
        return redirect("team")
    budget_actions.set_budgets(team, wanted)
    messages.success(request, "Budgets saved.")
    return redirect("team")
