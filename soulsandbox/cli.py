"""The sandbox's command line: ``python -m soulsandbox`` (and ``manage.py soul_sandbox``, a wrapper).

Every option's default comes from ``SOUL_SANDBOX_<OPTION>`` when that variable is set and
not empty (e.g. SOUL_SANDBOX_QUEUE_SECONDS, SOUL_SANDBOX_ERROR_RATE,
SOUL_SANDBOX_WEBHOOK_REORDER=1); the key from SOUL_SANDBOX_KEY. A flag beats its variable.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Mapping
from typing import TextIO
from urllib.parse import urlsplit

from soulsandbox.config import SandboxConfig
from soulsandbox.server import SandboxServer

DESCRIPTION = (
    "Run the Soul sandbox gateway (a local stand-in for the Pixazo Soul API) until Ctrl-C. "
    "Every option's default comes from SOUL_SANDBOX_<OPTION> (e.g. SOUL_SANDBOX_QUEUE_SECONDS, "
    "SOUL_SANDBOX_ERROR_RATE, SOUL_SANDBOX_WEBHOOK_REORDER=1); the key from SOUL_SANDBOX_KEY."
)

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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sandbox's options, on any argparse parser (Django's command parser is one)."""
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
    parser.add_argument("--public-url", default=None, help="Base of result URLs instead of the Host header.")
    parser.add_argument("--verbose", action="store_true", help="Log each request's method, path and status.")
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


def config_from(options: Mapping[str, object]) -> SandboxConfig:
    """The configuration the parsed options ask for. Raises ValueError on a bad value."""
    settings = {name: options[name] for name, _, _ in _SETTINGS if options[name] is not None}
    reorder = options["webhook_reorder"]
    if reorder is None:
        raw = (_env("webhook_reorder") or "").strip().lower()
        if raw not in _TRUE | _FALSE:
            raise ValueError(f"SOUL_SANDBOX_WEBHOOK_REORDER must be 1 or 0, got {raw!r}")
        reorder = raw in _TRUE
    return SandboxConfig(
        api_key=options["key"],
        queue_seconds=options["queue_seconds"],
        complete_seconds=options["complete_seconds"],
        public_url=options["public_url"],
        quiet=not options["verbose"],
        webhook_reorder=reorder,
        **settings,
    )


def start(options: Mapping[str, object]) -> SandboxServer:
    """The server the options ask for, bound but not serving. Raises ValueError or OSError."""
    return SandboxServer(config_from(options), host=options["host"], port=options["port"])


def run(server: SandboxServer, out: TextIO) -> None:
    """Announce the server on ``out``, then serve until Ctrl-C or SIGTERM."""
    # SIGTERM (docker stop, a process manager, `make run`) stops the serving loop the way its
    # own shutdown() does, from another thread, instead of raising wherever the main thread is.
    # Request threads are daemons and the serving loop wakes every half second, so it is prompt
    # even while a request is being answered.
    signal.signal(signal.SIGTERM, lambda signum, frame: server.request_stop())
    config = server.config
    key_note = "the configured key" if config.api_key else "any non-empty key"
    changed = config.changed_settings()
    if changed.get("webhook_target"):
        # The path may hold the receiver's secret token: show where, not the whole address.
        parts = urlsplit(changed["webhook_target"])
        changed["webhook_target"] = f"{parts.scheme}://{parts.netloc}/…"
    fault_note = "".join(f", {name}={value}" for name, value in changed.items())
    out.write(
        f"Soul sandbox listening on {server.url} (queue {config.queue_seconds}s, "
        f"complete {config.complete_seconds}s, accepts {key_note}{fault_note}); Ctrl-C to stop.\n"
    )
    # Whoever started us (a script, a test) may be waiting for this line on a pipe.
    out.flush()
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C; SIGTERM returns normally
        server.serve_forever()
    out.write("Soul sandbox stopped.\n")
    out.flush()


def main(argv: list[str] | None = None) -> int:
    """``python -m soulsandbox [options]``; the exit status."""
    parser = argparse.ArgumentParser(prog="python -m soulsandbox", description=DESCRIPTION)
    add_arguments(parser)
    options = vars(parser.parse_args(argv))
    try:
        server = start(options)
    except (ValueError, OSError) as exc:
        sys.stderr.write(f"soulsandbox: {exc}\n")
        return 1
    run(server, sys.stdout)
    return 0
