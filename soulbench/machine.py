"""What the benchmark ran on: the machine's facts, and how fast it was while the pages were timed."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
import time
from pathlib import Path

import django

SPEED_CHECK_STEPS = 5_000_000


def speed_check() -> float:
    """Seconds for a fixed pure-Python loop, run before and after the page timings.

    A shared virtual machine does not run at one speed: the same loop has taken a third longer
    from one hour to the next. Printed beside the results, it tells how fast the machine was
    while the pages were timed, so runs on different days can be compared fairly.
    """
    started = time.perf_counter()
    total = 0
    for step in range(SPEED_CHECK_STEPS):
        total += step
    return round(time.perf_counter() - started, 3)


def speed_lines(collected) -> list[str]:
    """The speed checks of each database's run, as one line of the page (none when none ran)."""
    checks = [
        f"{label} {' / '.join(f'{seconds:.2f}' for seconds in results['speed_check_s'])} s"
        for label, results in collected
        if results.get("speed_check_s")
    ]
    if not checks:
        return []
    return [
        f"- Speed check (a fixed {SPEED_CHECK_STEPS:,}-step Python loop before / after the page "
        f"timings; lower is faster): {'; '.join(checks)}"
    ]


def facts() -> list[str]:
    """CPU, memory, OS and versions, as lines of the page."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            names = [line.split(":", 1)[1].strip() for line in info if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    memory = ""
    try:
        with open("/proc/meminfo") as info:
            total = next(line for line in info if line.startswith("MemTotal"))
        memory = f"{int(total.split()[1]) / 1024 / 1024:.1f} GB"
    except (OSError, StopIteration):
        pass
    return [
        f"- CPU: {os.cpu_count()} × {cpu}",
        f"- Memory: {memory or 'unknown'}",
        f"- OS: {platform.platform()}",
        f"- Python {platform.python_version()}, Django {django.get_version()}, "
        f"SQLite {sqlite3.sqlite_version}",
    ]


def code_line(folder: Path | None = None) -> str:
    """Which code was measured: the commit checked out, and whether files differed from it."""
    folder = folder or Path(__file__).resolve().parent.parent

    def git(*arguments: str) -> str:
        done = subprocess.run(["git", *arguments], cwd=folder, capture_output=True, text=True, timeout=30)
        if done.returncode:
            raise OSError(done.stderr.strip())
        return done.stdout.strip()

    try:
        commit = git("rev-parse", "--short=10", "HEAD")
        changed = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "- Code: not a git checkout (commit unknown)"
    return f"- Code: commit {commit}" + (", with uncommitted changes" if changed else "")
