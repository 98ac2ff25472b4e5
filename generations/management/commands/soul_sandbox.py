"""``manage.py soul_sandbox``: run the local stand-in for the Soul gateway in the foreground."""

from __future__ import annotations

import os
import signal

from django.core.management.base import BaseCommand, CommandError, CommandParser

from generations.soul.sandbox import SandboxConfig, SandboxServer


class Command(BaseCommand):
    help = (
        "Run the Soul sandbox gateway (a local stand-in for the Pixazo Soul API) until Ctrl-C. "
        "Defaults come from SOUL_SANDBOX_QUEUE_SECONDS, SOUL_SANDBOX_COMPLETE_SECONDS and SOUL_SANDBOX_KEY."
    )
    # The sandbox needs neither the database nor the project's checks; start at once.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to bind (default 127.0.0.1).")
        parser.add_argument("--port", type=int, default=8765, help="Port to bind; 0 picks a free one.")
        parser.add_argument(
            "--queue-seconds",
            type=float,
            # argparse converts a string default with ``type`` too, so a bad variable is a usage error.
            default=os.environ.get("SOUL_SANDBOX_QUEUE_SECONDS", "1.0"),
            help="Seconds a job stays queued before it is in progress.",
        )
        parser.add_argument(
            "--complete-seconds",
            default=os.environ.get("SOUL_SANDBOX_COMPLETE_SECONDS", "3.0"),
            help='Seconds from submit to a terminal status: a number, or a range like "2-10".',
        )
        parser.add_argument(
            "--key",
            default=os.environ.get("SOUL_SANDBOX_KEY") or None,
            help="Require this subscription key (default: any non-empty key).",
        )
        parser.add_argument(
            "--public-url", default=None, help="Base of result URLs instead of the Host header."
        )
        parser.add_argument(
            "--verbose", action="store_true", help="Log each request's method, path and status."
        )

    def handle(self, *args: object, **options: object) -> None:
        try:
            config = SandboxConfig(
                api_key=options["key"],
                queue_seconds=options["queue_seconds"],
                complete_seconds=options["complete_seconds"],
                public_url=options["public_url"],
                quiet=not options["verbose"],
            )
            server = SandboxServer(config, host=options["host"], port=options["port"])
        except (ValueError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        # SIGTERM (docker stop, a process manager) should shut down as cleanly as Ctrl-C.
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        key_note = "the configured key" if config.api_key else "any non-empty key"
        self.stdout.write(
            f"Soul sandbox listening on {server.url} (queue {config.queue_seconds}s, "
            f"complete {config.complete_seconds}s, accepts {key_note}); Ctrl-C to stop.",
        )
        # Whoever started us (a script, a test) may be waiting for this line on a pipe.
        self.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            self.stdout.write("Soul sandbox stopped.")


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
