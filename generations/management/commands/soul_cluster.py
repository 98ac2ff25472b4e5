"""Run a django-q2 cluster for soulsite.

The same as `manage.py qcluster` (which is ``Cluster().start()``), except that it first
makes sure the tracking Schedule exists and asks for tracking to resume at once, so a
restarted worker picks up job sets in flight without waiting for the next Schedule tick;
and that SIGTERM or SIGINT also tells the cluster's tasks to wind down
(generations.lifecycle.shutdown), so the cluster stops in seconds, not when the tracker
loop would have ended.
"""

import signal

from django.conf import settings
from django.core.management.base import BaseCommand
from django_q.cluster import Cluster

from generations.lifecycle import shutdown, tracker


class Command(BaseCommand):
    help = "Run a django-q2 cluster (qcluster) after making sure tracking resumes at once."

    def handle(self, *args, **options):
        settings.SECRET_KEY  # noqa: B018 - as qcluster does: signing needs it, fail before starting
        tracker.ensure_schedule()
        tracker.wake(after_start=True)
        # Before the cluster forks: its sentinel and workers share the flag.
        shutdown.install()
        cluster = Cluster()  # installs its own SIGTERM/SIGINT handler, wrapped here

        def stop(signum, frame):
            shutdown.request()
            cluster.sig_handler(signum, frame)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        cluster.start()
