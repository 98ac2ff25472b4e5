"""The one helper that starts child processes: its own group, a log, a polite stop and a hard one."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from generations.management.children import Child, ChildDidNotStart, environment, stop_all
from tests.conftest import ROOT

# A leader that ignores SIGTERM, with a grandchild in its group (as a cluster's forked workers are).
STUBBORN = textwrap.dedent(
    """
    import os, signal, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    worker = os.fork()
    if worker == 0:
        time.sleep(60)
        os._exit(0)
    print("worker", worker, flush=True)
    time.sleep(60)
    """
)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def dies_soon(pid: int, within: float = 3.0) -> bool:
    """A SIGKILL is delivered when the kernel next schedules the process: on a busy machine a
    moment after killpg() returns. Dead (or a zombie) within ``within`` seconds."""
    deadline = time.monotonic() + within
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_the_helper_imports_nothing_of_django():
    check = "import sys, generations.management.children; print('django' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


def test_a_child_runs_in_its_own_group_with_its_environment_and_log(tmp_path):
    command = [sys.executable, "-c", "import os; print(os.environ['CHILD_SAYS'], os.getpgid(0), flush=True)"]
    child = Child(command, env=environment(CHILD_SAYS="hello"), log_path=tmp_path / "child.log").start()
    match = child.wait_for_log(r"hello (\d+)\n", timeout=10)
    assert int(match.group(1)) == child.pid != os.getpgid(0)
    assert child.wait(10) and child.returncode == 0 and not child.running()
    assert child.stop()


def test_a_child_that_ignores_sigterm_is_killed_with_its_whole_group(tmp_path):
    child = Child([sys.executable, "-c", STUBBORN], log_path=tmp_path / "stubborn.log", grace=0.5).start()
    worker = int(child.wait_for_log(r"worker (\d+)\n", timeout=10).group(1))
    assert child.stop() is False  # not in time: killed
    assert child.returncode == -9
    assert dies_soon(worker)


def test_a_child_that_exits_before_saying_what_is_awaited_shows_its_log(tmp_path):
    command = [sys.executable, "-c", "print('no luck'); raise SystemExit(3)"]
    child = Child(command, log_path=tmp_path / "early.log", name="the early one").start()
    with pytest.raises(ChildDidNotStart, match="the early one did not start:\nno luck"):
        child.wait_for_log("never written", timeout=10)
    child.stop()


def test_stopping_several_says_which_were_overdue(tmp_path):
    polite = Child([sys.executable, "-c", "import time; time.sleep(60)"], log_path=tmp_path / "a.log")
    stubborn = Child([sys.executable, "-c", STUBBORN], log_path=tmp_path / "b.log", name="stubborn")
    polite.start(), stubborn.start()
    stubborn.wait_for_log("worker", timeout=10)
    overdue = []
    stop_all([stubborn, polite], grace=0.5, on_overdue=lambda child: overdue.append(child.name))
    assert overdue == ["stubborn"]
    assert polite.returncode == -15 and stubborn.returncode == -9


# --- `make run` stops quickly ------------------------------------------------------------------

SETUP = textwrap.dedent(
    """
    from django.contrib.auth import get_user_model
    from generations.actions import jobsets, teams
    from generations.models import JobSet, Team
    from tests.factories import DEFAULTS

    user = get_user_model().objects.create_user("runner", password="runner-password-1")
    team = Team.objects.create(name="Run")
    teams.add_member(team, user)
    for n in range(3):
        jobsets.create(user, team, JobSet(**{**DEFAULTS, "prompt": f"stop test {n}"}).soul_request())
    """
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def descendants(pid: int) -> set[int]:
    """Every living process below ``pid`` (children in sessions of their own included)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if fields[0] != "Z":
                parents[int(entry.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def run_database(var_dir: Path) -> sqlite3.Connection:
    return sqlite3.connect(var_dir / "soulsite.sqlite3", timeout=10)


@pytest.fixture
def run_env(tmp_path):
    """`make run`'s environment on free ports and a fresh SQLite database, with a job set mid-send."""
    env = environment(
        SOULSITE_VAR_DIR=str(tmp_path),
        SOUL_SANDBOX="1",
        SOUL_SANDBOX_PORT=str(free_port()),
        # Every submit is taken and answered only after a minute: a send hangs when the stop comes.
        SOUL_SANDBOX_SLOW_RATE="1",
        SOUL_SANDBOX_SLOW_SECONDS="60",
        DJANGO_SETTINGS_MODULE="soulsite.settings",
    )
    for name in ("DATABASE_URL", "REDIS_URL", "SOUL_API_KEY", "SOUL_API_BASE_URL", "SOUL_PUBLIC_URL"):
        env.pop(name, None)
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput"], env=env, cwd=ROOT, check=True, capture_output=True)
    subprocess.run([*manage, "shell", "-c", SETUP], env=env, cwd=ROOT, check=True, capture_output=True)
    return env


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_make_run_stops_within_ten_seconds_even_mid_send_and_frees_the_tracker(run_env, tmp_path, signum):
    port = free_port()
    command = [sys.executable, str(ROOT / "manage.py"), "soul_run", "--port", str(port)]
    run = Child(command, env=run_env, cwd=ROOT, log_path=tmp_path / "run.log", name="soul_run").start()
    try:
        run.wait_for_log(r"soulsite is running at", timeout=60)
        database = run_database(tmp_path)

        deadline = time.monotonic() + 30
        while not database.execute("select 1 from generations_jobset where status='sending'").fetchone():
            assert time.monotonic() < deadline, "no send started:\n" + run.log_text()[-3000:]
            time.sleep(0.1)
        processes = descendants(run.pid)
        assert len(processes) >= 4, processes  # web, cluster (with its workers), sandbox

        started = time.monotonic()
        run.process.send_signal(signum)
        assert run.wait(15), "soul_run did not exit:\n" + run.log_text()[-3000:]
        while processes and time.monotonic() - started < 15:
            processes = {pid for pid in processes if alive(pid)}
            time.sleep(0.05)
        took = time.monotonic() - started
        assert not {pid for pid in processes if alive(pid)}, "children left running"
        print(f"stopped in {took:.2f} s")
        assert took <= 10, f"stopping took {took:.1f} s:\n{run.log_text()[-3000:]}"
        assert "killing it" not in run.log_text()  # every child stopped of its own accord

        # Nothing half written: the database is whole and the tracker's lease was handed back.
        assert database.execute("pragma integrity_check").fetchone() == ("ok",)
        holders = database.execute("select holder from generations_lease where name='tracker'").fetchall()
        assert holders in ([], [("",)]), holders
        # A send cut off by the stop is still claimed, so the next start recovers it as unconfirmed.
        rows = database.execute("select status, claimed_until from generations_jobset").fetchall()
        assert all(until for status, until in rows if status == "sending"), rows
        database.close()
    finally:
        run.stop(grace=1)
