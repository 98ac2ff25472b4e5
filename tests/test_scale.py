"""Several workers at once: two django-q2 clusters and three gunicorn web workers on PostgreSQL and Redis.

People submit job sets over HTTP through gunicorn while two clusters share the
Redis queue and the database. The sandbox shows from its side that nothing is
sent twice, no job set is polled by two workers at once, the in-flight cap holds
across clusters, and the once-a-minute tracking Schedule fires once per tick, not
once per cluster.

Runs only when DATABASE_URL is PostgreSQL and REDIS_URL is set (CI's second run,
or `make test-scale`); SQLite's single writer and the ORM broker are not what a
several-host deployment runs on.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest
import requests
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django_q.models import Schedule, Task

from generations.lifecycle import tracker
from generations.management.children import Child, ChildDidNotStart, environment
from generations.models import JobSet
from tests.conftest import ROOT, _database_url, wait_until

ON_POSTGRES = settings.DATABASES["default"]["ENGINE"].endswith(("postgresql", "postgis"))
ON_REDIS = bool(settings.Q_CLUSTER.get("redis"))

pytestmark = [
    pytest.mark.scale,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not (ON_POSTGRES and ON_REDIS),
        reason="needs DATABASE_URL=postgres://… and REDIS_URL=redis://… (run `make test-scale`)",
    ),
]

WEB_WORKERS = 3
CAP = 4
# Two clusters must run through more than two Schedule ticks (one a minute) to show
# the Schedule fires once per tick: ticks at ~0 s, 60 s and 120 s after it is created.
SCHEDULE_WINDOW = 150.0
# django-q2's scheduler logs "<process> created task <name> from schedule [<schedule name>]".
SCHEDULE_LINE = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),\d+ .*created task .* from schedule \["
    + re.escape(tracker.SCHEDULE_NAME)
)


class Gunicorn:
    """`gunicorn soulsite.wsgi` with several workers on a free port, on the test database."""

    def __init__(self, env: dict[str, str], log_path, workers: int = WEB_WORKERS):
        self.log_path = log_path
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "soulsite.wsgi:application",
            "--workers",
            str(workers),
            "--bind",
            "127.0.0.1:0",  # the kernel picks a free port; read it from the log
            "--timeout",
            "60",
        ]
        self.child = Child(command, env=env, cwd=ROOT, log_path=log_path, name="gunicorn", grace=20)
        self.child.start()
        try:
            listening = self.child.wait_for_log(r"Listening at: (http://127\.0\.0\.1:\d+)", timeout=30)
        except ChildDidNotStart:
            self.child.stop()
            raise
        self.url = listening.group(1)

    def stop(self) -> None:
        self.child.stop()


@pytest.fixture
def web(transactional_db, sandbox, media_root, tmp_path):
    env = environment(
        DJANGO_SETTINGS_MODULE="soulsite.settings",
        DATABASE_URL=_database_url(),
        SOUL_SANDBOX="1",
        SOUL_API_KEY="sandbox-test-key",
        SOUL_API_BASE_URL=sandbox.url,
        MEDIA_ROOT=str(media_root),
        LOG_LEVEL="WARNING",
    )
    server = Gunicorn(env, tmp_path / "gunicorn.log")
    yield server
    server.stop()


def logged_in(url: str, username: str, password: str) -> requests.Session:
    """A browser-like session: the login form with its CSRF token, then the session cookie."""
    session = requests.Session()
    page = session.get(f"{url}/accounts/login/", timeout=10)
    assert page.status_code == 200, page.status_code
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    answer = session.post(
        f"{url}/accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token},
        headers={"Referer": f"{url}/accounts/login/"},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302, answer.text[:500]
    return session


def generate(url: str, session: requests.Session, prompt: str, batch_size: int) -> None:
    answer = session.post(
        f"{url}/generate/",
        data={
            "prompt": prompt,
            "width_and_height": "1536x1536",
            "quality": "720p",
            "batch_size": str(batch_size),
            "seed": "",
            "enhance_prompt": "",
            "style_id": "",
            "style_strength": "",
        },
        # The login rotated the token: the cookie holds the current one.
        headers={"X-CSRFToken": session.cookies["csrftoken"], "Referer": f"{url}/"},
        allow_redirects=False,
        timeout=20,
    )
    assert answer.status_code == 302, (answer.status_code, answer.text[:1000])


def schedule_firings(*log_paths) -> list[datetime]:
    """When either cluster's scheduler turned the tracking Schedule into a task (from their logs)."""
    fired = []
    for path in log_paths:
        for line in path.read_text(errors="replace").splitlines():
            match = SCHEDULE_LINE.match(line)
            if match:
                fired.append(datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S"))
    return sorted(fired)


def test_two_clusters_and_three_web_workers_share_the_work_without_doing_anything_twice(
    alice, start_cluster, web, faults, sandbox_stats
):
    # Every poll and submit takes a moment to answer, so two workers on one job set would overlap.
    faults(queue_seconds=0.2, complete_seconds="1-2", max_in_flight=CAP, slow_rate=1.0, slow_seconds=0.3)
    # The clusters create the Schedule afresh as they start, due at once and then every 60 s: its
    # ticks fall at known times in the window. (A Schedule left from long ago would tick again
    # moments after its first, overdue, run: allowed, but it would blur the count.)
    Schedule.objects.filter(name=tracker.SCHEDULE_NAME).delete()
    started = time.monotonic()
    clusters = [start_cluster(SOUL_MAX_IN_FLIGHT=str(CAP)), start_cluster(SOUL_MAX_IN_FLIGHT=str(CAP))]
    wait_until(
        lambda: all(" running." in cluster.log_path.read_text(errors="replace") for cluster in clusters),
        timeout=60,
        message="both clusters to start",
    )

    # The test process hashes passwords with a fast hasher gunicorn does not know: give alice a real one.
    hasher = PBKDF2PasswordHasher()
    alice.password = hasher.encode("alice-password-1", hasher.salt())
    alice.save(update_fields=["password"])
    # Three people (three sessions, one account) press Generate at the same moments, in three waves.
    sessions = [logged_in(web.url, "alice", "alice-password-1") for _ in range(3)]
    submitted = 0
    lock = threading.Lock()

    def press(args):
        nonlocal submitted
        session, n = args
        generate(web.url, session, f"scale test {n}", batch_size=4 if n % 4 == 0 else 1)
        with lock:
            submitted += 1

    with ThreadPoolExecutor(len(sessions) * 2) as pool:
        for wave in range(3):
            if wave:
                time.sleep(35)  # let the waves straddle the Schedule's ticks
            batch = [(sessions[n % len(sessions)], wave * 10 + n) for n in range(10)]
            list(pool.map(press, batch))
    assert submitted == 30
    assert JobSet.objects.count() == 30

    wait_until(
        lambda: JobSet.objects.exclude(status__in=JobSet.TERMINAL).count() == 0,
        timeout=120,
        interval=0.5,
        message="every job set to finish",
    )
    # Keep both clusters running through the Schedule's window.
    time.sleep(max(0.0, SCHEDULE_WINDOW - (time.monotonic() - started)))

    stats = sandbox_stats()
    job_sets = list(JobSet.objects.all())
    for job_set in job_sets:
        assert job_set.status == JobSet.Status.COMPLETED, (job_set.pk, job_set.status, job_set.status_reason)
    # Nothing sent twice: every idempotency key was accepted exactly once, and nothing else was.
    keys = {str(job_set.idempotency_key) for job_set in job_sets}
    assert set(stats["by_idempotency_key"]) == keys
    assert set(stats["by_idempotency_key"].values()) == {1}
    assert stats["submits_accepted"] == 30 and stats["submits_replayed"] == 0
    # No job set was polled by two workers at the same moment.
    assert stats["max_concurrent_polls_per_job_set"] == 1
    # The cap held across both clusters: the sandbox never saw more, and never refused one.
    assert stats["max_in_flight_seen"] <= CAP
    assert stats["faults"]["concurrency"] == 0
    # Work really was shared: both clusters took tasks from the one Redis queue.
    for cluster in clusters:
        assert "Processed '" in cluster.log_path.read_text(errors="replace"), cluster.log_path
    assert Task.objects.filter(func="generations.tasks.send_waiting").exists()

    # The Schedule fired once per tick across both clusters. It is created when the first cluster
    # starts and is due every 60 s from then, so in `elapsed` seconds it may fire at most
    # elapsed // 60 + 1 times (3 in the 150 s window), each in the 30 s after its tick (a
    # scheduler looks every 30 s), so never less than 30 s apart. Once per cluster would be about
    # twice as many, some only seconds apart.
    elapsed = time.monotonic() - started
    fired = schedule_firings(*(cluster.log_path for cluster in clusters))
    assert 2 <= len(fired) <= int(elapsed // 60) + 1, (elapsed, fired)
    gaps = [(later - earlier).total_seconds() for earlier, later in zip(fired, fired[1:], strict=False)]
    assert all(gap >= 20 for gap in gaps), fired


def test_two_clusters_keep_the_cap_and_the_fair_order_over_a_backlog_from_several_people(
    alice, django_user_model, team_a, start_cluster, faults, sandbox_stats
):
    from generations.actions import teams
    from tests.factories import make_job_set

    cap = 2
    faults(queue_seconds=0.2, complete_seconds="1-2", max_in_flight=cap, slow_rate=1.0, slow_seconds=0.2)
    carol = django_user_model.objects.create_user("carol", password="carol-password-1")
    dave = django_user_model.objects.create_user("dave", password="dave-password-1")
    for teammate in (carol, dave):
        teams.add_member(team_a, teammate)
    # Alice asked for twelve first; her teammates asked for three each after her.
    backlog = [make_job_set(alice, prompt=f"alice {n}") for n in range(12)]
    backlog += [
        make_job_set(person, prompt=f"{person.username} {n}") for person in (carol, dave) for n in range(3)
    ]

    clusters = [start_cluster(SOUL_MAX_IN_FLIGHT=str(cap)), start_cluster(SOUL_MAX_IN_FLIGHT=str(cap))]
    wait_until(
        lambda: JobSet.objects.exclude(status__in=JobSet.TERMINAL).count() == 0,
        timeout=120,
        interval=0.5,
        message="the whole backlog to finish",
    )

    stats = sandbox_stats()
    # Both clusters took work from the one Redis queue.
    assert all("Processed '" in cluster.log_path.read_text(errors="replace") for cluster in clusters)
    job_sets = list(JobSet.objects.select_related("user").order_by("sent_at", "id"))
    assert all(job_set.status == JobSet.Status.COMPLETED for job_set in job_sets)
    # No job set sent twice, never more than the cap in flight, never refused for concurrency.
    assert set(stats["by_idempotency_key"].values()) == {1} and len(stats["by_idempotency_key"]) == 18
    assert stats["max_in_flight_seen"] <= cap
    assert stats["faults"]["concurrency"] == 0
    # Teammates interleaved: first in, first out would send all twelve of alice's first. The fair line
    # sends a teammate's second, and all six of theirs within the first dozen (alternating with
    # alice's: with a limit of two, the older one goes when counts tie, so carol's go, then dave's).
    senders = [job_set.user.username for job_set in job_sets]
    # The first two are claimed at once, often one by each cluster, and each stamps its own
    # clock at the claim: their order by sent_at is a race, so they are compared as a pair.
    assert sorted(senders[:2]) == ["alice", "carol"], senders
    assert senders[:13].count("carol") == 3 and senders[:13].count("dave") == 3, senders
