"""Run a django-q2 cluster for soulsite.

The same as `manage.py qcluster`, except that it first makes sure the tracking
Schedule exists and asks for tracking to resume at once, so a restarted worker
picks up job sets in flight without waiting for the next Schedule tick.
"""

from django.core.management import call_command
from django.core.management.base import BaseCommand

from generations.lifecycle import tracker


class Command(BaseCommand):
    help = "Run a django-q2 cluster (qcluster) after making sure tracking resumes at once."

    def handle(self, *args, **options):
        tracker.ensure_schedule()
        tracker.wake(after_start=True)
        call_command("qcluster")
