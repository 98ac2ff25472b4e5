"""Real processes for the benchmark: a django-q2 cluster and gunicorn, and what memory they use."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from django.conf import settings

from generations.management.children import Child, ChildDidNotStart, environment

# A cluster finishing its tasks after the drain, or gunicorn its requests, may take a while.
STOP_GRACE_SECONDS = 20.0


def start_cluster(log_path: Path, **env: str) -> Child:
    """`manage.py soul_cluster` on this process's database and broker."""
    command = [sys.executable, str(settings.BASE_DIR / "manage.py"), "soul_cluster"]
    cluster = Child(
        command,
        env=environment(LOG_LEVEL="INFO", **env),
        cwd=settings.BASE_DIR,
        log_path=log_path,
        name="the cluster",
        grace=STOP_GRACE_SECONDS,
    ).start()
    try:
        cluster.wait_for_log(re.escape(" running."), timeout=60, interval=0.2)
    except ChildDidNotStart:
        cluster.stop()
        raise
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
    web = Child(
        command,
        env=environment(LOG_LEVEL="WARNING", **env),
        cwd=settings.BASE_DIR,
        log_path=log_path,
        name="gunicorn",
        grace=STOP_GRACE_SECONDS,
    ).start()
    try:
        return web, web.wait_for_log(r"Listening at: (http://127\.0\.0\.1:\d+)", timeout=60).group(1)
    except ChildDidNotStart:
        web.stop()
        raise


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
