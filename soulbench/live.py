"""The measurements with real processes: tracking lag, upstream requests, draining, and memory.

The sandbox gateway runs in this process (its counters are read directly); a real
cluster, and for the webhooks gunicorn, run as child processes on this process's
throw-away database (``processes``). Their logs stay after the run, for a look when
a number is odd.
"""

from __future__ import annotations

import re
import shutil

import requests
from django.conf import settings
from django.db import connection

from soulbench import processes, upstream, web
from soulbench.seed import BENCH_PASSWORD
from soulsandbox.server import SandboxConfig, SandboxServer

CAP = 4


def measure(options, results, user, team, rng, say, save) -> None:
    """Fill ``results["upstream"]`` and ``results["memory"]``, calling ``save()`` after each step."""
    logs = settings.VAR_DIR / "bench-logs" / connection.vendor
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    results["logs"] = str(logs)
    sandbox = SandboxServer(SandboxConfig(queue_seconds=1.0, complete_seconds="2-10")).start()
    env = upstream.sandbox_env(sandbox.url, CAP)
    settings.SOUL_PUBLIC_URL = ""
    found = results["upstream"] = {}
    memory = results["memory"] = {}
    try:
        say("tracking lag, polling only")
        cluster = processes.start_cluster(logs / "cluster-1.log", **env)
        try:
            found["lag_polling"] = vars(
                upstream.lag_run(sandbox, user, team, options["lag_job_sets"], options["lag_spread"], rng)
            )
            save()
            say(f"requests while idle ({options['idle_seconds']:g} s)")
            found["idle_requests"] = upstream.idle_requests(sandbox, options["idle_seconds"])
            found["idle_seconds"] = options["idle_seconds"]
            save()
            say(f"draining {options['drain']:,} job sets at cap {CAP}")
            found["drain"] = vars(
                upstream.drain(sandbox, user, team, options["drain"], CAP, rng, options["drain_budget"])
            )
            members = processes.group_members(cluster.pid)
            memory["cluster_processes"] = len(members)
            memory["cluster_rss_mb"] = round(sum(processes.rss_mb(pid) for pid in members), 1)
            memory["cluster_pss_mb"] = round(sum(processes.pss_mb(pid) for pid in members), 1)
            save()
        finally:
            cluster.stop()

        say("tracking lag, with webhooks")
        upstream.callbacks_seen_lately()
        web_server, url = processes.start_gunicorn(logs / "web.log", workers=2, **env)
        settings.SOUL_PUBLIC_URL = url
        cluster = processes.start_cluster(logs / "cluster-2.log", **{**env, "SOUL_PUBLIC_URL": url})
        try:
            found["lag_webhooks"] = vars(
                upstream.lag_run(sandbox, user, team, options["lag_job_sets"], options["lag_spread"], rng)
            )
            save()
            say("web worker memory after serving pages")
            _browse(url, user)
            workers = processes.children_of(web_server.pid)
            memory["web_workers"] = len(workers)
            memory["web_worker_rss_mb"] = round(max(processes.rss_mb(pid) for pid in workers), 1)
            memory["web_master_rss_mb"] = round(processes.rss_mb(web_server.pid), 1)
        finally:
            cluster.stop()
            web_server.stop()
            settings.SOUL_PUBLIC_URL = ""
    finally:
        sandbox.stop()


def _browse(url: str, user) -> None:
    """Log in over HTTP and load the pages a person loads, so the worker has done real work."""
    session = requests.Session()
    page = session.get(f"{url}/accounts/login/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    session.post(
        f"{url}/accounts/login/",
        data={"username": user.username, "password": BENCH_PASSWORD, "csrfmiddlewaretoken": token},
        timeout=30,
    )
    older = web.older_paths(user, 10)
    for n in range(20):  # two workers: each gets about half
        session.get(f"{url}/", timeout=30)
        session.get(f"{url}{older[n % len(older)]}", headers={"HX-Request": "true"}, timeout=30)
        session.get(f"{url}/spend/chip/", headers={"HX-Request": "true"}, timeout=30)
