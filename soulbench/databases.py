"""The throw-away databases a benchmark runs on, and the broker that goes with each.

SQLite runs with the ORM broker, as a one-machine install does. PostgreSQL runs
with Redis when Redis answers, as a several-host install does. Each database is
created empty before its run and removed after it; nothing else is touched.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import dj_database_url

BENCH_DATABASE = "soulsite_bench"
# The server to create the PostgreSQL database on (any database there to connect to).
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/postgres"
# A Redis database of its own, so a benchmark never takes another program's tasks.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"


@dataclass
class Target:
    key: str  # "sqlite" or "postgres"
    label: str  # shown in the table
    database_url: str
    redis_url: str = ""  # empty: django-q2's ORM broker
    skipped: str = ""  # why it cannot run here


def postgres_server_url() -> str:
    url = os.environ.get("BENCH_POSTGRES_URL")
    if url:
        return url
    configured = os.environ.get("DATABASE_URL", "")
    return configured if configured.startswith(("postgres://", "postgresql://")) else DEFAULT_POSTGRES_URL


def _connect(url: str, dbname: str | None = None):
    import psycopg

    db = dj_database_url.parse(url)
    return psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"] or None,
        password=db["PASSWORD"] or None,
        dbname=dbname or db["NAME"] or "postgres",
        connect_timeout=5,
        autocommit=True,
    )


def _with_name(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


def sqlite_target(folder: Path) -> Target:
    return Target("sqlite", "SQLite", f"sqlite:///{folder / 'bench.sqlite3'}")


def postgres_target() -> Target:
    server = postgres_server_url()
    target = Target("postgres", "PostgreSQL", _with_name(server, BENCH_DATABASE))
    try:
        with _connect(server) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        target.skipped = f"PostgreSQL not reachable at {_without_password(server)} ({type(exc).__name__})"
        return target
    target.label = f"PostgreSQL {version.split()[0]}"
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    redis_version = redis_answers(redis_url)
    if redis_version:
        target.redis_url = redis_url
        target.label += f" + Redis {redis_version}"
    else:
        target.label += " (ORM broker: Redis not reachable)"
    return target


def redis_answers(url: str) -> str | None:
    """Redis's version when it answers, else None."""
    try:
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=2)
        return client.info("server")["redis_version"]
    except Exception:  # noqa: BLE001
        return None


def empty_redis_queue(url: str) -> None:
    """Drop tasks a killed earlier run may have left in the benchmark's Redis database."""
    import redis

    redis.Redis.from_url(url).delete("django_q:soulsite:q")


def _without_password(url: str) -> str:
    db = dj_database_url.parse(url)
    return f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"


def create(target: Target) -> None:
    """Start from an empty database (the migrations run in the measuring process)."""
    drop(target)  # whatever a killed earlier run left behind
    if target.key == "postgres":
        with _connect(postgres_server_url()) as conn:
            conn.execute(f'CREATE DATABASE "{BENCH_DATABASE}"')


def drop(target: Target) -> None:
    if target.key == "sqlite":
        path = Path(dj_database_url.parse(target.database_url)["NAME"])
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    with _connect(postgres_server_url()) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')
    if target.redis_url:
        empty_redis_queue(target.redis_url)
