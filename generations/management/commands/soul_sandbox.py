"""``manage.py soul_sandbox``: run the local stand-in for the Soul gateway in the foreground."""

from __future__ import annotations

import os
import signal
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand, CommandError, CommandParser

from soulsandbox.server import SandboxConfig, SandboxServer

# Fault and webhook flags: (config field, type, help). Each flag's default comes from
# SOUL_SANDBOX_<FIELD> (upper case) when that variable is set and not empty.
_SETTINGS: tuple[tuple[str, type, str], ...] = (
    ("error_rate", float, "Fraction of submits/polls answered 500 without processing them."),
    ("rate_limit_rate", float, "Fraction of submits/polls answered 429 without processing them."),
    ("retry_after", float, "Seconds in the 429's Retry-After header (default 1)."),
    ("unavailable_rate", float, "Fraction of submits/polls answered 503 without processing them."),
    ("max_in_flight", int, "Answer 400 (Higgsfield's concurrency message) to a submit beyond N unfinished."),
    ("slow_rate", float, "Fraction of submits/polls processed but answered --slow-seconds late."),
    ("slow_seconds", float, "Delay of a slow answer (default 5)."),
    ("drop_rate", float, "Fraction of submits/polls processed, then the connection closed unanswered."),
    ("never_finish_rate", float, "Fraction of job sets that stay in_progress for ever."),
    ("poll_not_found_first", int, "Answer 404 to the first N polls of each job set."),
    ("fault_seed", int, "Seed of the fault draws, for a reproducible run."),
    ("webhook_duplicates", int, "Send each webhook message this many extra times."),
    ("webhook_delay", float, "Seconds after the terminal instant to send webhooks."),
    ("webhook_target", str, "Deliver webhooks to this URL instead of the submitted webhook_url."),
)
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


def _env(name: str) -> str | None:
    return os.environ.get(f"SOUL_SANDBOX_{name.upper()}") or None


class Command(BaseCommand):
    help = (
        "Run the Soul sandbox gateway (a local stand-in for the Pixazo Soul API) until Ctrl-C. "
        "Every option's default comes from SOUL_SANDBOX_<OPTION> (e.g. SOUL_SANDBOX_QUEUE_SECONDS, "
        "SOUL_SANDBOX_ERROR_RATE, SOUL_SANDBOX_WEBHOOK_REORDER=1); the key from SOUL_SANDBOX_KEY."
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
        faults = parser.add_argument_group("faults and webhooks (also at run time: /_sandbox/faults)")
        for name, kind, text in _SETTINGS:
            faults.add_argument(
                "--" + name.replace("_", "-"),
                dest=name,
                type=kind,
                # None leaves the config's own default (no fault).
                default=_env(name),
                help=text,
            )
        faults.add_argument(
            "--webhook-reorder",
            dest="webhook_reorder",
            action="store_true",
            default=None,
            help="After each final webhook, also deliver a stale in_progress one (out of order).",
        )

    def handle(self, *args: object, **options: object) -> None:
        settings = {name: options[name] for name, _, _ in _SETTINGS if options[name] is not None}
        reorder = options["webhook_reorder"]
        if reorder is None:
            raw = (_env("webhook_reorder") or "").strip().lower()
            if raw not in _TRUE | _FALSE:
                raise CommandError(f"SOUL_SANDBOX_WEBHOOK_REORDER must be 1 or 0, got {raw!r}")
            reorder = raw in _TRUE
        try:
            config = SandboxConfig(
                api_key=options["key"],
                queue_seconds=options["queue_seconds"],
                complete_seconds=options["complete_seconds"],
                public_url=options["public_url"],
                quiet=not options["verbose"],
                webhook_reorder=reorder,
                **settings,
            )
            server = SandboxServer(config, host=options["host"], port=options["port"])
        except (ValueError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        # SIGTERM (docker stop, a process manager) should shut down as cleanly as Ctrl-C.
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        key_note = "the configured key" if config.api_key else "any non-empty key"
        changed = config.changed_settings()
        if changed.get("webhook_target"):
            # The path may hold the receiver's secret token: show where, not the whole address.
            parts = urlsplit(changed["webhook_target"])
            changed["webhook_target"] = f"{parts.scheme}://{parts.netloc}/…"
        fault_note = "".join(f", {name}={value}" for name, value in changed.items())
        self.stdout.write(
            f"Soul sandbox listening on {server.url} (queue {config.queue_seconds}s, "
            f"complete {config.complete_seconds}s, accepts {key_note}{fault_note}); Ctrl-C to stop.",
        )
        # Whoever started us (a script, a test) may be waiting for this line on a pipe.
        self.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            self.stdout.write("Soul sandbox stopped.")


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
