"""Changing teams: adding and inviting people, roles, removing people, and which team a person works in.

Every change drops what the request remembered about the person's teams (see
generations.queries.teams), so the rest of the request sees the change.
"""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.forms import PasswordResetForm
from django.db import transaction

from generations.models import Membership, Profile, Team


class OnlyManager(Exception):
    """The change would leave a team without a manager."""

    def __init__(self):
        super().__init__("You are this team's only manager: make someone else a manager first.")


def add_member(team: Team, user, role: str = Membership.Role.MEMBER) -> Membership:
    """Put ``user`` in ``team`` with ``role`` (or give them that role if they are in it already)."""
    membership, _ = Membership.objects.update_or_create(team=team, user=user, defaults={"role": role})
    _forget(user)
    return membership


def invite(email: str, request) -> AbstractBaseUser:
    """A new account for ``email``, and an email inviting them to choose its password."""
    User = get_user_model()
    # A random password nobody knows: the invitation link replaces it.
    user = User.objects.create_user(_free_username(email), email, secrets.token_urlsafe(32))
    _send_invitation(request, email)
    return user


def _free_username(email: str) -> str:
    User = get_user_model()
    base = email.split("@")[0][:140] or "user"
    candidate, n = base, 1
    while User.objects.filter(username=candidate).exists():
        n += 1
        candidate = f"{base}{n}"
    return candidate


def _send_invitation(request, email: str) -> None:
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


def change_role(membership: Membership, role: str, by) -> None:
    """Give ``membership`` ``role``; ``by`` is who asks (a team keeps at least one manager)."""
    if role not in Membership.Role.values:
        raise ValueError(f"Unknown role {role!r}.")
    if membership.user_id == by.pk and role != Membership.Role.MANAGER:
        _check_other_managers(membership.team_id, by)
    membership.role = role
    membership.save()
    _forget(membership.user)


def remove_member(membership: Membership, by) -> None:
    """Take ``membership``'s person out of its team (their work stays); ``by`` is who asks."""
    if membership.user_id == by.pk:
        _check_other_managers(membership.team_id, by)
    membership.delete()
    _forget(membership.user)


def _check_other_managers(team_id: int, user) -> None:
    others = Membership.objects.filter(team_id=team_id, role=Membership.Role.MANAGER).exclude(user=user)
    if not others.exists():
        raise OnlyManager


def switch(user, team_id: int) -> bool:
    """Work in ``team_id`` from now on (kept across sessions). False if not a member."""
    if not Membership.objects.filter(user=user, team_id=team_id).exists():
        return False
    Profile.objects.update_or_create(user=user, defaults={"current_team_id": team_id})
    _forget(user)
    return True


@transaction.atomic
def add_or_invite(team: Team, who: str, role: str, request) -> tuple[AbstractBaseUser, bool]:
    """Add the person with username ``who``, or with email ``who`` (inviting them if new).

    Returns the person and whether they were invited.
    """
    User = get_user_model()
    invited = False
    if "@" in who:
        user = User.objects.filter(email__iexact=who).first()
        if user is None:
            user = invite(who, request)
            invited = True
    else:
        user = User.objects.get(username=who)
    add_member(team, user, role)
    return user, invited


def _forget(user) -> None:
    """Drop what this request remembered about ``user``'s teams (generations.queries.teams keeps it)."""
    user.__dict__.pop("_current_membership", None)
    user.__dict__.pop("_memberships", None)
