"""A team's own page: who is in it, and (for managers) adding, inviting, promoting and removing people."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from generations.actions import budgets as budget_actions
from generations.actions import teams as team_actions
from generations.models import Membership, Team
from generations.queries import access, spend, teams
from generations.web import parsing


class AddMemberForm(forms.Form):
    who = forms.CharField(
        label="Username or email",
        max_length=team_actions.ADDRESS_MAX_LENGTH,
        error_messages={
            "required": "Enter a username, or the email address of someone new.",
            "max_length": f"An email address has at most {team_actions.ADDRESS_MAX_LENGTH} characters.",
        },
        help_text="An existing username adds that person. A new email address creates an account and "
        "sends an invitation to choose a password.",
    )
    role = forms.ChoiceField(
        choices=Membership.Role.choices,
        initial=Membership.Role.MEMBER,
        error_messages={"invalid_choice": "Pick member or manager.", "required": "Pick member or manager."},
    )

    def clean_who(self) -> str:
        who = self.cleaned_data["who"].strip()
        try:
            if "@" in who:
                team_actions.check_address(who)
            elif teams.person_named(who) is None:
                raise team_actions.InvitationRefused("who", team_actions.NO_SUCH_USERNAME)
        except team_actions.InvitationRefused as exc:
            raise forms.ValidationError(str(exc)) from None
        return who


class BudgetsForm(forms.Form):
    """The team's monthly limit and each member's; empty means no limit."""

    def __init__(self, data, team: Team, members: list[Membership], budgets: dict):
        super().__init__(data, auto_id="%s")  # ids as before: team_budget, budget_<user id>
        self.fields["team_budget"] = self._field("Whole team", budgets.get(None))
        for member in members:
            name = f"budget_{member.user_id}"
            self.fields[name] = self._field(member.user.get_username(), budgets.get(member.user_id))
        self.users = {"team_budget": None} | {f"budget_{m.user_id}": m.user_id for m in members}

    @staticmethod
    def _field(label: str, limit) -> parsing.MoneyField:
        field = parsing.MoneyField(required=False, label=label, initial=limit)
        field.widget.attrs["placeholder"] = "no limit"
        return field

    def limits(self) -> dict:
        """The limits sent, by user id (None: the team's); a field not sent is left as it is."""
        return {self.users[name]: self.cleaned_data[name] for name in self.fields if name in self.data}


def _managed_team(request: HttpRequest) -> Team:
    team = access.managed_team(request.user)
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


def _page(request: HttpRequest, status: int = 200, **shown) -> HttpResponse:
    """The team page; ``shown`` replaces its forms (with their errors) or adds errors beside a row."""
    membership = teams.current_membership(request.user)
    if membership is None:
        return render(request, "generations/team.html", {"membership": None}, status=status)
    team = membership.team
    members = teams.members_of(team)
    may_run_team = access.may_run_team(request.user, membership.team_id, membership)
    budgets = spend.team_budgets(team)
    context = {
        "membership": membership,
        "may_run_team": may_run_team,
        "team": team,
        "members": members,
        "spend": spend.member_spend(team) if may_run_team else {},
        "budgets": budgets,
        "form": AddMemberForm(),
        "budget_form": BudgetsForm(None, team, members, budgets),
        "roles": Membership.Role.choices,
        "role_errors": {},
        "remove_errors": {},
        **shown,
    }
    return render(request, "generations/team.html", context, status=status)


@require_GET
def team(request: HttpRequest) -> HttpResponse:
    return _page(request)


@require_POST
def add_member(request: HttpRequest) -> HttpResponse:
    team = _managed_team(request)
    form = AddMemberForm(request.POST)
    if not form.is_valid():
        return _page(request, 422, form=form)
    who, role = form.cleaned_data["who"], form.cleaned_data["role"]
    try:
        user, invited = team_actions.add_or_invite(team, who, role, request)
    except team_actions.InvitationRefused as exc:
        form.add_error(exc.field, str(exc))
        return _page(request, 422, form=form)
    if invited:
        messages.success(request, f"Invited {who}: they will get an email to choose a password.")
    messages.success(
        request, f"{user.get_username()} is now a {Membership.Role(role).label.lower()} of {team}."
    )
    return redirect("team")


@require_POST
def change_role(request: HttpRequest, pk: int) -> HttpResponse:
    _, membership = _membership(request, pk)
    role = request.POST.get("role")
    try:
        team_actions.change_role(membership, role, by=request.user)
    except ValueError:
        return _page(request, 422, role_errors={membership.pk: "Pick member or manager."})
    except team_actions.OnlyManager as exc:
        return _page(request, 422, role_errors={membership.pk: str(exc)})
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
        return _page(request, 422, remove_errors={membership.pk: str(exc)})
    messages.success(request, f"Removed {membership.user.get_username()} from {team}. Their work stays.")
    return redirect("team")


@require_POST
def switch_team(request: HttpRequest) -> HttpResponse:
    team_id = parsing.id_from(request.POST.get("team"))
    if team_id is None or not team_actions.switch(request.user, team_id):
        raise Http404("You are not in that team.")
    return redirect(parsing.next_url(request, request.POST.get("next")))


@require_POST
def set_budgets(request: HttpRequest) -> HttpResponse:
    """Save the team's monthly limit and each member's (empty: no limit); all of them or none."""
    team = _managed_team(request)
    form = BudgetsForm(request.POST, team, teams.members_of(team), spend.team_budgets(team))
    if not form.is_valid():
        return _page(request, 422, budget_form=form)
    budget_actions.set_budgets(team, form.limits())
    messages.success(request, "Budgets saved.")
    return redirect("team")
