"""The one helper that starts child processes: its own group, a log, a polite stop and a hard one."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

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
    assert not alive(worker)


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
