"""Changing teams: adding and inviting people, roles, removing people, and which team a person works in.

Every change drops what the request remembered about the person's teams (see
generations.queries.teams), so the rest of the request sees the change.
"""

from __future__ import annotations

import re
import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.forms import PasswordResetForm
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email
from django.db import transaction
from django.template import loader

from generations.models import Membership, Profile, Team


class OnlyManager(Exception):
    """The change would leave a team without a manager."""

    def __init__(self):
        super().__init__("You are this team's only manager: make someone else a manager first.")


# RFC 5321's limit on a mailbox path, which Django's EmailField and password reset form keep too:
# a longer address cannot be mailed, so an account made for it could never be claimed.
ADDRESS_MAX_LENGTH = 254


class InvitationRefused(Exception):
    """Nothing was created: ``field`` of the form (``who``, ``role``; None: the whole request) is wrong."""

    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field = field


NO_SUCH_USERNAME = "No one has that username. To invite someone new, enter their email."


def check_address(email: str) -> str:
    """``email`` if an invitation can be sent to it; InvitationRefused in words otherwise."""
    if len(email) > ADDRESS_MAX_LENGTH:
        raise InvitationRefused(
            "who", f"An email address has at most {ADDRESS_MAX_LENGTH} characters; this one has {len(email)}."
        )
    try:
        validate_email(email)
    except ValidationError:
        raise InvitationRefused("who", "Enter a whole email address, like name@example.com.") from None
    return email


def check_role(role) -> str:
    if role not in Membership.Role.values:
        raise InvitationRefused("role", "Pick member or manager.")
    return role


def add_member(team: Team, user, role: str = Membership.Role.MEMBER) -> Membership:
    """Put ``user`` in ``team`` with ``role`` (or give them that role if they are in it already)."""
    check_role(role)
    membership, _ = Membership.objects.update_or_create(team=team, user=user, defaults={"role": role})
    _forget(user)
    return membership


@transaction.atomic
def invite(email: str, request) -> AbstractBaseUser:
    """A new account for ``email``, and an email inviting them to choose its password.

    The account and the email stand or fall together: if the address is refused or the mail
    cannot be sent, no account is left behind (InvitationRefused).
    """
    check_address(email)
    User = get_user_model()
    # A random password nobody knows: the invitation link replaces it.
    user = User.objects.create_user(_free_username(email), email, secrets.token_urlsafe(32))
    _send_invitation(request, email)
    return user


def _free_username(email: str) -> str:
    User = get_user_model()
    # What a username may hold (Django's username validator); the rest of an address's local part
    # would make a name nobody could type at the login form.
    base = re.sub(r"[^\w.@+-]", "", email.rsplit("@", 1)[0])[:140] or "user"
    candidate, n = base, 1
    while User.objects.filter(username=candidate).exists():
        n += 1
        candidate = f"{base}{n}"
    return candidate


class _InvitationForm(PasswordResetForm):
    """Django's password reset form, except that a mail that cannot be sent is an error.

    Django logs such a failure and carries on, which for an invitation would leave an account
    nobody was told about.
    """

    def send_mail(self, subject_template_name, email_template_name, context, from_email, to_email, **_):
        subject = "".join(loader.render_to_string(subject_template_name, context).splitlines())
        body = loader.render_to_string(email_template_name, context)
        EmailMultiAlternatives(subject, body, from_email, [to_email]).send()


def _send_invitation(request, email: str) -> None:
    # Django's password reset mail doubles as the invitation: a one-time link to set a password.
    form = _InvitationForm({"email": email})
    if not form.is_valid():
        raise InvitationRefused("who", "Enter a whole email address, like name@example.com.")
    try:
        form.save(
            request=request,
            use_https=request.is_secure(),
            subject_template_name="registration/invitation_subject.txt",
            email_template_name="registration/invitation_email.txt",
            extra_email_context={"inviter": request.user.get_username()},
        )
    except OSError as exc:  # smtplib's errors are OSErrors, as are refused connections
        raise InvitationRefused(
            "who", "The invitation could not be sent just now, so no account was made: try again later."
        ) from exc


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

    Returns the person and whether they were invited. Everything is checked before anything is
    made, and it all happens in one transaction: a refused invitation (InvitationRefused) leaves
    no account and no membership.
    """
    check_role(role)
    by = request.user
    if team is None or not (
        by.is_staff or Membership.objects.filter(team=team, user=by, role=Membership.Role.MANAGER).exists()
    ):
        raise InvitationRefused(None, "Only a team's managers may add people to it.")
    User = get_user_model()
    invited = False
    if "@" in who:
        check_address(who)
        user = User.objects.filter(email__iexact=who).first()
        if user is None:
            user = invite(who, request)
            invited = True
    else:
        user = User.objects.filter(username=who).first()
        if user is None:
            raise InvitationRefused("who", NO_SUCH_USERNAME)
    add_member(team, user, role)
    return user, invited


def _forget(user) -> None:
    """Drop what this request remembered about ``user``'s teams (generations.queries.teams keeps it)."""
    user.__dict__.pop("_current_membership", None)
    user.__dict__.pop("_memberships", None)
