"""A team's own page: who is in it, and (for managers) adding, inviting, promoting and removing people."""

from __future__ import annotations

import secrets
from decimal import Decimal, InvalidOperation

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import PasswordResetForm
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from generations import selectors, teams
from generations.models import Budget, Membership

User = get_user_model()


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
        elif not User.objects.filter(username=who).exists():
            raise forms.ValidationError("No one has that username. To invite someone new, enter their email.")
        return who


def _managed_team(request: HttpRequest):
    membership = teams.current_membership(request.user)
    if membership is None or not (membership.is_manager or request.user.is_staff):
        raise Http404("Only a team's managers may change it.")
    return membership.team


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
        "spend": selectors.member_spend(membership.team) if membership.is_manager else {},
        "budgets": _budgets(membership.team),
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
            "spend": selectors.member_spend(team),
            "roles": Membership.Role.choices,
        }
        return render(request, "generations/team.html", context, status=422)
    who, role = form.cleaned_data["who"], form.cleaned_data["role"]
    with transaction.atomic():
        if "@" in who:
            user = User.objects.filter(email__iexact=who).first()
            if user is None:
                # A random password nobody knows: the invitation link replaces it.
                user = User.objects.create_user(_free_username(who), who, secrets.token_urlsafe(32))
                _send_invitation(request, who)
                messages.success(request, f"Invited {who}: they will get an email to choose a password.")
        else:
            user = User.objects.get(username=who)
        teams.add_member(team, user, role)
    messages.success(
        request, f"{user.get_username()} is now a {Membership.Role(role).label.lower()} of {team}."
    )
    return redirect("team")


def _free_username(email: str) -> str:
    base = email.split("@")[0][:140] or "user"
    candidate, n = base, 1
    while User.objects.filter(username=candidate).exists():
        n += 1
        candidate = f"{base}{n}"
    return candidate


def _send_invitation(request: HttpRequest, email: str) -> None:
    # Django's password reset mail doubles as the invitation: a one-time link to set a password.
    form = PasswordResetForm({"email": email})
    if form.is_valid():
        form.save(
            request=request,
            use_https=request.is_secure(),
            subject_template_name="registration/invitation_subject.txt",
            email_template_name="registration/invitation_email.txt",
            extra_email_context={"inviter": request.user.get_username()},
        )


@require_POST
def change_role(request: HttpRequest, pk: int) -> HttpResponse:
    team = _managed_team(request)
    membership = get_object_or_404(Membership, pk=pk, team=team)
    role = request.POST.get("role")
    if role not in Membership.Role.values:
        messages.error(request, "Unknown role.")
    elif (
        membership.user_id == request.user.pk
        and role != Membership.Role.MANAGER
        and not _other_managers(team, request.user)
    ):
        messages.error(request, "You are this team's only manager: make someone else a manager first.")
    else:
        membership.role = role
        membership.save()
        messages.success(
            request, f"{membership.user.get_username()} is now a {membership.get_role_display().lower()}."
        )
    return redirect("team")


@require_POST
def remove_member(request: HttpRequest, pk: int) -> HttpResponse:
    team = _managed_team(request)
    membership = get_object_or_404(Membership, pk=pk, team=team)
    if membership.user_id == request.user.pk and not _other_managers(team, request.user):
        messages.error(request, "You are this team's only manager: make someone else a manager first.")
    else:
        membership.delete()
        messages.success(request, f"Removed {membership.user.get_username()} from {team}. Their work stays.")
    return redirect("team")


def _other_managers(team, user) -> bool:
    return Membership.objects.filter(team=team, role=Membership.Role.MANAGER).exclude(user=user).exists()


@require_POST
def switch_team(request: HttpRequest) -> HttpResponse:
    team_id = request.POST.get("team", "")
    if not team_id.isdigit() or not teams.switch(request.user, int(team_id)):
        raise Http404("You are not in that team.")
    next_url = request.POST.get("next") or "/"
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = "/"
    return redirect(next_url)


def _budgets(team) -> dict:
    """Monthly limits by user id; the team's own under None."""
    return {budget.user_id: budget.monthly_limit for budget in Budget.objects.filter(team=team)}


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
    with transaction.atomic():
        for user_id, amount in wanted.items():
            if amount is None:
                for budget in Budget.objects.filter(team=team, user_id=user_id):
                    budget.delete()  # one by one, so the history records each
            else:
                Budget.objects.update_or_create(
                    team=team, user_id=user_id, defaults={"monthly_limit": amount}
                )
    messages.success(request, "Budgets saved.")
    return redirect("team")
