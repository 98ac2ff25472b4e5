"""Child processes in a process group of their own: start one, ask whether it runs, stop it.

`make run` (``soul_run``: the web server, the cluster and the sandbox), `make bench`
(a cluster and gunicorn to measure) and the tests (clusters, gunicorn, the sandbox
command) all start programs this way and stop them the same way.

It lives beside the management commands because ``soul_run`` is the app's own user
of it, but it imports nothing of Django or the app (only the standard library), so
the benchmark and the tests import it before or without Django being set up.

Why a group of its own: Ctrl-C in a terminal goes to every process in the foreground
group. A child in its own session does not get it; the parent decides the order in
which children stop. Why SIGTERM to the leader only, and SIGKILL to the whole group:
django-q2's cluster stops its workers itself on SIGTERM (each finishes its task)
while its forked processes die at once on a SIGTERM of their own; so the polite
signal goes to the leader alone, and only a child that ignores it for the grace
period, or what a stopped leader leaves behind, is killed as a group.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO

# Enough for a cluster to finish a download in progress; the callers pass their own when it differs.
DEFAULT_GRACE_SECONDS = 10.0


class ChildDidNotStart(RuntimeError):
    """The child exited, or did not write what was awaited in time; the message ends with its log."""


def environment(**extra: str | None) -> dict[str, str]:
    """This process's environment plus ``extra`` (a ``None`` value leaves that variable as it is)."""
    env = dict(os.environ)
    env.update({key: value for key, value in extra.items() if value is not None})
    return env


class Child:
    """One command run in its own process group, its output appended to a log file (or the terminal).

    ``Child(command, env=..., log_path=..., grace=...).start()``; then ``running()``,
    ``wait_for_log()``, ``stop()`` (SIGTERM to the leader, ``grace`` seconds, then SIGKILL to the
    group) or ``kill()`` (SIGKILL to the group at once).
    """

    def __init__(
        self,
        command: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        log_path: Path | None = None,
        name: str = "",
        grace: float = DEFAULT_GRACE_SECONDS,
    ):
        self.command = [str(part) for part in command]
        self.env = dict(env) if env is not None else None  # None: this process's environment
        self.cwd = cwd
        self.log_path = log_path  # None: the child writes where this process writes
        self.name = name or Path(self.command[0]).name
        self.grace = grace  # seconds ``stop()`` waits after SIGTERM
        self.process: subprocess.Popen | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> Child:
        if self.log_path is not None:
            self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed when the child is stopped
        self.process = subprocess.Popen(
            self.command,
            cwd=self.cwd,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT if self._log else None,
            start_new_session=True,  # its own session and process group, whose id is its pid
        )
        return self

    @property
    def pid(self) -> int:
        return self._started().pid

    @property
    def returncode(self) -> int | None:
        """The exit code once the child has exited, else ``None``."""
        return self._started().poll()

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_text(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, pattern: str, timeout: float = 60.0, interval: float = 0.1) -> re.Match:
        """The first match of ``pattern`` in the log, once the child has written it.

        Raises ``ChildDidNotStart`` (with the end of the log) when the child exits first or
        ``timeout`` seconds pass.
        """
        deadline = time.monotonic() + timeout
        while True:
            match = re.search(pattern, self.log_text())
            if match:
                return match
            if not self.running() or time.monotonic() > deadline:
                raise ChildDidNotStart(f"{self.name} did not start:\n{self.log_text()[-3000:]}")
            time.sleep(interval)

    def terminate(self) -> None:
        """Ask the leader to stop (SIGTERM); it stops its own children in its own way."""
        if self.running():
            self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds (``None``: for ever) for the leader to exit; whether it did."""
        try:
            self._started().wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def kill(self) -> None:
        """SIGKILL the whole group at once: no chance to clean up, as in a crash."""
        self._kill_group()
        self._started().wait()

    def stop(self, grace: float | None = None) -> bool:
        """SIGTERM the leader, wait ``grace`` seconds (default: the child's), then SIGKILL the group.

        Returns whether it stopped within the grace period.
        """
        if self.process is None:
            return True
        self.terminate()
        in_time = self.wait(self.grace if grace is None else grace)
        if not in_time:
            self.kill()
        self.close()
        return in_time

    def close(self) -> None:
        """Once the leader has exited: kill what it left behind in its group, and close the log."""
        if self.process is not None and self.process.poll() is not None:
            self._kill_group()
        if self._log is not None:
            self._log.close()
            self._log = None

    def _kill_group(self) -> None:
        # The group may be empty already (ProcessLookupError), or hold only a zombie leader.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)

    def _started(self) -> subprocess.Popen:
        if self.process is None:
            raise RuntimeError(f"{self.name} has not been started")
        return self.process


def stop_all(
    children: Iterable[Child],
    grace: float = DEFAULT_GRACE_SECONDS,
    on_overdue: Callable[[Child], None] | None = None,
) -> None:
    """Stop several children together: SIGTERM each in the given order, then one shared grace period.

    Those still running when it ends are killed as a group, after ``on_overdue(child)`` (to say so).
    """
    children = [child for child in children if child.process is not None]
    for child in children:
        child.terminate()
    deadline = time.monotonic() + grace
    for child in children:
        if not child.wait(max(0.1, deadline - time.monotonic())):
            if on_overdue is not None:
                on_overdue(child)
            child.kill()
        child.close()
