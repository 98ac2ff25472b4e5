"""A cluster that is told to stop: one flag its worker processes see, so long tasks end early.

django-q2 stops a cluster by letting each worker finish the task it runs, and the tracker
loop runs for most of a minute: `make run` would wait for it, or kill it half way. So
``soul_cluster`` makes this flag before the cluster forks its processes (a multiprocessing
event, shared by every process forked after it), and sets it when SIGTERM or SIGINT comes.
The tracker loop and the sender look at it between steps and stop taking work: what they
hold is handed back (the lease released, claims left to run out), so nothing is lost and
the cluster stops in a few seconds. Outside such a cluster (tests, a plain ``qcluster``)
there is no flag and nothing ever asks to stop.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.synchronize import Event

_flag: Event | None = None


def install() -> None:
    """Make the flag; call before the cluster starts, so that its forked processes share it."""
    global _flag
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    _flag = context.Event()


def request() -> None:
    """Ask every process of this cluster to stop taking work (from a signal handler: no locks held)."""
    if _flag is not None:
        _flag.set()


def requested() -> bool:
    return _flag is not None and _flag.is_set()
