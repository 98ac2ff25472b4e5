"""Scripted team setup: create NAME | add NAME USERNAME [--manager] | remove NAME USERNAME | list."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from generations.actions import teams
from generations.models import Membership, Team


class Command(BaseCommand):
    help = "Create teams and manage their members without clicking."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="Create a team.")
        create.add_argument("name")
        add = actions.add_parser("add", help="Add a person to a team (or change their role).")
        add.add_argument("name")
        add.add_argument("username")
        add.add_argument("--manager", action="store_true", help="As a manager (default: member).")
        remove = actions.add_parser("remove", help="Remove a person from a team.")
        remove.add_argument("name")
        remove.add_argument("username")
        actions.add_parser("list", help="List teams and their members.")

    def handle(self, *args, action, **options):
        getattr(self, f"do_{action}")(**options)

    def _team(self, name: str) -> Team:
        try:
            return Team.objects.get(name=name)
        except Team.DoesNotExist:
            raise CommandError(
                f"There is no team called {name!r}. Create it: soul_team create {name!r}"
            ) from None

    def _user(self, username: str):
        try:
            return get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(
                f"There is no user {username!r}. Create one: manage.py createsuperuser, "
                "or invite them from the team page."
            ) from None

    def do_create(self, name, **options):
        team, created = Team.objects.get_or_create(name=name)
        self.stdout.write(f"Created team {team}." if created else f"Team {team} exists already.")

    def do_add(self, name, username, manager, **options):
        role = Membership.Role.MANAGER if manager else Membership.Role.MEMBER
        membership = teams.add_member(self._team(name), self._user(username), role)
        self.stdout.write(f"{username} is a {membership.get_role_display().lower()} of {name}.")

    def do_remove(self, name, username, **options):
        deleted, _ = Membership.objects.filter(team=self._team(name), user=self._user(username)).delete()
        if not deleted:
            raise CommandError(f"{username} is not in {name}.")
        self.stdout.write(f"Removed {username} from {name}.")

    def do_list(self, **options):
        for team in Team.objects.prefetch_related("memberships__user"):
            members = ", ".join(
                f"{m.user.get_username()}{' (manager)' if m.is_manager else ''}"
                for m in team.memberships.all()
            )
            self.stdout.write(f"{team.name}: {members or 'no members'}")
