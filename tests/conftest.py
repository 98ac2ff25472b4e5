"""Shared fixtures: named users, the sandbox gateway on a real socket, a real django-q2 cluster."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from django.conf import settings

from generations import catalogue
from generations.management.children import Child, environment
from generations.upstream import client as soul_client
from soulsandbox.server import SandboxConfig, SandboxServer

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """Start from no SQLite test database at all: a killed run can leave -wal/-shm files behind
    that would make the new database unreadable ("disk I/O error")."""
    database = settings.DATABASES["default"]
    name = database.get("TEST", {}).get("NAME") if database["ENGINE"].endswith("sqlite3") else None
    files = [Path(f"{name}{suffix}") for suffix in ("", "-wal", "-shm", "-journal")] if name else []
    for path in files:
        path.unlink(missing_ok=True)
    yield
    for path in files:
        path.unlink(missing_ok=True)


@pytest.fixture(scope="session", autouse=True)
def _fast_passwords():
    # The real hasher is slow on purpose; tests create many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session")
def media_root(tmp_path_factory):
    path = tmp_path_factory.mktemp("media")
    settings.MEDIA_ROOT = path
    return path


@pytest.fixture(scope="session")
def sandbox():
    """The sandbox gateway over real HTTP, finishing jobs quickly."""
    server = SandboxServer(SandboxConfig(queue_seconds=0.3, complete_seconds=1.0)).start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def soul_settings(settings, sandbox, media_root):
    """Every test talks to the session's sandbox and stores files in a temporary folder."""
    settings.SOUL_API_BASE_URL = sandbox.url
    settings.SOUL_API_KEY = "sandbox-test-key"
    settings.MEDIA_ROOT = media_root
    soul_client.reset_client()
    yield settings
    soul_client.reset_client()


@pytest.fixture(autouse=True)
def _catalogue(request):
    """Prices and styles from the data migration (a transactional test's flush removes them)."""
    names = set(request.fixturenames)
    marker = request.node.get_closest_marker("django_db")
    if not marker and not names & {"db", "transactional_db"}:
        return
    transactional = bool(names & {"transactional_db", "live_server"}) or (
        marker and marker.kwargs.get("transaction")
    )
    request.getfixturevalue("transactional_db" if transactional else "db")
    from generations.models import Price, Style

    catalogue.install(Price, Style)


@pytest.fixture
def sandbox_stats(sandbox):
    def read():
        return requests.get(f"{sandbox.url}/_sandbox/stats", timeout=5).json()

    return read


@pytest.fixture
def faults(sandbox):
    """Change the session sandbox's faults for one test; put them back afterwards."""
    before = requests.get(f"{sandbox.url}/_sandbox/faults", timeout=5).json()
    requests.post(f"{sandbox.url}/_sandbox/reset", timeout=5)  # no job sets left over from other tests

    def set_faults(**changes):
        response = requests.post(f"{sandbox.url}/_sandbox/faults", json=changes, timeout=5)
        assert response.status_code == 200, response.text

    yield set_faults
    requests.post(f"{sandbox.url}/_sandbox/faults", json=before, timeout=5)


@pytest.fixture
def script(sandbox):
    """Queue exact answers for the next submits or polls."""

    def queue(endpoint: str, *answers: dict):
        response = requests.post(
            f"{sandbox.url}/_sandbox/script", json={"endpoint": endpoint, "answers": list(answers)}, timeout=5
        )
        assert response.status_code == 200, response.text

    yield queue
    requests.post(f"{sandbox.url}/_sandbox/reset", timeout=5)


@pytest.fixture
def team_a(db):
    from generations.models import Team

    return Team.objects.get_or_create(name="Alpha")[0]


@pytest.fixture
def team_b(db):
    from generations.models import Team

    return Team.objects.get_or_create(name="Bravo")[0]


@pytest.fixture
def alice(django_user_model, team_a):
    """A member of team Alpha."""
    from generations.actions import teams

    user = django_user_model.objects.create_user("alice", password="alice-password-1")
    teams.add_member(team_a, user)
    return user


@pytest.fixture
def bob(django_user_model, team_b):
    """A member of team Bravo: he must never see Alpha's work."""
    from generations.actions import teams

    user = django_user_model.objects.create_user("bob", password="bob-password-1")
    teams.add_member(team_b, user)
    return user


def _database_url() -> str:
    """The test database (not the configured one) as a URL, for processes started by a test."""
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = quote(db.get("USER") or "", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{user}{password}@{host}{port}/{quote(db['NAME'], safe='')}"


@pytest.fixture(autouse=True)
def _empty_redis_queue():
    """With the Redis broker, tasks a test enqueued outlive its database: drop them before each test.

    A stale ``send_waiting`` or ``track`` run by a later test's cluster only looks at
    that test's database and finds its own work, so it would be harmless, but it
    would blur what a test counts (e.g. tasks made by the tracking Schedule).
    The ORM broker needs nothing: its queue is a table, emptied with the rest.
    """
    if not settings.Q_CLUSTER.get("redis"):
        return
    from django_q.brokers import get_broker

    get_broker().purge_queue()


class Cluster:
    """A real `manage.py qcluster` process sharing the test database and the sandbox."""

    def __init__(self, sandbox_url: str, media_root: Path, log_path: Path, **env: str):
        self.sandbox_url, self.media_root, self.log_path = sandbox_url, media_root, log_path
        self.extra_env = env
        self.child: Child | None = None

    def env(self) -> dict[str, str]:
        return environment(
            **{
                "DJANGO_SETTINGS_MODULE": "soulsite.settings",
                "DATABASE_URL": _database_url(),
                "SOUL_SANDBOX": "1",
                "SOUL_API_KEY": "sandbox-test-key",
                "SOUL_API_BASE_URL": self.sandbox_url,
                "MEDIA_ROOT": str(self.media_root),
                "SOUL_Q_WORKERS": "3",
                "LOG_LEVEL": "INFO",
                **self.extra_env,  # a test's own variables win
            }
        )

    def start(self) -> Cluster:
        command = [sys.executable, str(ROOT / "manage.py"), "soul_cluster"]
        self.child = Child(command, env=self.env(), log_path=self.log_path, name="the cluster", grace=15)
        self.child.start()
        return self

    def kill(self) -> None:
        """SIGKILL the whole cluster: no chance to clean up, as in a crash."""
        if self.child:
            self.child.kill()

    def stop(self) -> None:
        if self.child:
            self.child.stop()


@pytest.fixture
def start_cluster(transactional_db, sandbox, media_root, tmp_path):
    """Start real django-q2 clusters (extra environment variables as keywords); all stop after the test."""
    started: list[Cluster] = []

    def start(**env: str) -> Cluster:
        log_path = tmp_path / f"cluster-{len(started)}.log"
        started.append(Cluster(sandbox.url, media_root, log_path, **env).start())
        return started[-1]

    yield start
    for running in started:
        running.stop()


@pytest.fixture
def cluster(start_cluster):
    """A real django-q2 cluster for the length of one test."""
    return start_cluster()


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.1, message: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {message}")
