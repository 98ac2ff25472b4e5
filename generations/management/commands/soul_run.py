"""Run the web server, a django-q2 cluster and (in sandbox mode) the sandbox gateway together.

The three run in the foreground as child processes; Ctrl-C (or SIGTERM)
stops all three cleanly within 10 seconds, and if one dies the others are
stopped too, so a person never ends up with half a soulsite running.
"""

from __future__ import annotations

import signal
import socket
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from generations.management.children import Child, stop_all

# Ctrl-C or SIGTERM stops everything within 10 s: the children get this long to stop on
# their own (the cluster's tracker winds down in about 3, see generations.lifecycle.shutdown),
# then whatever still runs is killed, which is immediate, and recovered at the next start.
STOP_GRACE_SECONDS = 8


class Command(BaseCommand):
    help = "Run web server, task cluster and sandbox gateway together (what `make run` does)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, host, port, **options):
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        programs = []
        if settings.SOUL_SANDBOX:
            programs.append(("sandbox", manage + ["soul_sandbox", "--port", str(settings.SOUL_SANDBOX_PORT)]))
        programs.append(("cluster", manage + ["soul_cluster"]))
        programs.append(("web", manage + ["runserver", f"{host}:{port}", "--noreload", "--skip-checks"]))

        if _port_in_use(host, port):
            raise CommandError(f"Port {port} is in use already. Stop what runs there, or: make run PORT=8001")

        children: list[Child] = []
        stopping = False

        def stop(signum=None, frame=None):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            for name, command in programs:
                # Own session: Ctrl-C reaches only us, and we stop the children in order.
                # No log file: they write to this terminal.
                children.append(Child(command, name=name).start())
            if _wait_for_port(host, port, children, lambda: stopping):
                mode = (
                    "sandbox gateway (no key, nothing is charged)"
                    if settings.SOUL_SANDBOX
                    else settings.SOUL_API_BASE_URL
                )
                self.stdout.write(self.style.SUCCESS(f"\nsoulsite is running at http://{host}:{port}/"))
                self.stdout.write(
                    f"  upstream: {mode}\n  admin:    http://{host}:{port}/admin/\n  Press Ctrl-C to stop.\n"
                )
            while not stopping:
                for child in children:
                    if not child.running():
                        self.stderr.write(
                            f"The {child.name} process exited (code {child.returncode}); stopping the rest."
                        )
                        stopping = True
                        break
                time.sleep(0.3)
        finally:
            # Web first (no new work), then the cluster (finishes its tasks), then the sandbox.
            stop_all(reversed(children), STOP_GRACE_SECONDS, on_overdue=self._say_killed)
        self.stdout.write("Stopped.")

    def _say_killed(self, child: Child) -> None:
        self.stderr.write(f"The {child.name} process did not stop in {STOP_GRACE_SECONDS} s; killing it.")


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((host, port)) == 0


def _wait_for_port(host, port, children: list[Child], stopping, timeout=60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not stopping():
        if _port_in_use(host, port):
            return True
        if any(not child.running() for child in children):
            return False
        time.sleep(0.2)
    return False
