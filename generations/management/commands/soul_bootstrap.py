"""First-run setup: the tracker's Schedule, and a first admin when no user exists (password printed once)."""

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from generations.actions import teams
from generations.lifecycle import tracker
from generations.models import Membership, Team


class Command(BaseCommand):
    help = "Create a first admin account when there is no user yet; print its credentials once."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username, **options):
        tracker.ensure_schedule()
        User = get_user_model()
        if User.objects.exists():
            self.stdout.write(
                "Users exist already; no admin created. Forgot the password? "
                "Run: .venv/bin/python manage.py changepassword admin"
            )
            return
        password = secrets.token_urlsafe(12)
        admin = User.objects.create_superuser(username=username, email="", password=password)
        team, _ = Team.objects.get_or_create(name="Studio")
        teams.add_member(team, admin, Membership.Role.MANAGER)
        self.stdout.write(self.style.SUCCESS("Created the first admin. This is shown once, write it down:"))
        self.stdout.write(f"    username: {username}\n    password: {password}")
