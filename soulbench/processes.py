"""Real processes for the benchmark: a django-q2 cluster and gunicorn, and what memory they use."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings


def _environment(**extra: str) -> dict[str, str]:
    """This process's environment (the throw-away database, the broker, the sandbox), plus ``extra``."""
    env = dict(os.environ)
    env.update({key: value for key, value in extra.items() if value is not None})
    return env


class Child:
    """A subprocess in its own session, so the whole tree can be measured and stopped."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log_path: Path):
        self.name, self.log_path = name, log_path
        self.log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command,
            cwd=settings.BASE_DIR,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, grace: float = 20.0) -> None:
        if self.running():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.process.wait()
        # Whatever the leader left behind in its group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.log.close()


def start_cluster(log_path: Path, **env: str) -> Child:
    """`manage.py soul_cluster` on this process's database and broker."""
    command = [sys.executable, str(settings.BASE_DIR / "manage.py"), "soul_cluster"]
    cluster = Child("cluster", command, _environment(LOG_LEVEL="INFO", **env), log_path)
    deadline = time.monotonic() + 60
    while " running." not in cluster.log_text():
        if not cluster.running() or time.monotonic() > deadline:
            raise RuntimeError(f"the cluster did not start:\n{cluster.log_text()[-3000:]}")
        time.sleep(0.2)
    return cluster


def start_gunicorn(log_path: Path, workers: int = 2, **env: str) -> tuple[Child, str]:
    """gunicorn on a port the kernel picks; returns the process and its address."""
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "soulsite.wsgi:application",
        "--workers",
        str(workers),
        "--bind",
        "127.0.0.1:0",
    ]
    web = Child("web", command, _environment(LOG_LEVEL="WARNING", **env), log_path)
    deadline = time.monotonic() + 60
    while True:
        match = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", web.log_text())
        if match:
            return web, match.group(1)
        if not web.running() or time.monotonic() > deadline:
            raise RuntimeError(f"gunicorn did not start:\n{web.log_text()[-3000:]}")
        time.sleep(0.1)


# --- Memory -------------------------------------------------------------------------


def _status_kb(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_mb(pid: int) -> float:
    """Resident memory (VmRSS) of one process, in MB."""
    return _status_kb(pid, "VmRSS") / 1024


def pss_mb(pid: int) -> float:
    """Proportional share (Pss): pages shared with the parent counted once across the tree."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def group_members(leader: int) -> list[int]:
    """Every live process in ``leader``'s process group (a Child's whole tree)."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except OSError:
            continue
        # fields: state, ppid, pgrp, ...
        if int(fields[2]) == leader and fields[0] != "Z":
            members.append(int(entry))
    return sorted(members)


def children_of(pid: int) -> list[int]:
    found = []
    for member in group_members(os.getpgid(pid)):
        try:
            with open(f"/proc/{member}/stat") as stat:
                if int(stat.read().rpartition(")")[2].split()[1]) == pid:
                    found.append(member)
        except OSError:
            continue
    return found
