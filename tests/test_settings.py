"""Settings come from the environment and fail early when they cannot work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def run_check(**env) -> subprocess.CompletedProcess:
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("SOUL_", "DATABASE_URL", "REDIS_URL"))
    }
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_sandbox_mode_is_on_by_default_without_a_key():
    result = run_check()
    assert result.returncode == 0, result.stderr


def test_turning_the_sandbox_off_without_a_key_is_a_clear_start_up_error():
    result = run_check(SOUL_SANDBOX="0")
    assert result.returncode != 0
    assert "SOUL_API_KEY is not set" in result.stderr


def test_a_key_turns_sandbox_mode_off_and_points_at_the_real_gateway():
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='soulsite.settings'; django.setup();"
        "from django.conf import settings as s; print(s.SOUL_SANDBOX, s.SOUL_API_BASE_URL)"
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SOUL_")}
    environment["SOUL_API_KEY"] = "k"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.split() == ["False", "https://gateway.pixazo.ai"], result.stderr


def setting_in(name: str, **env):
    """A setting as a fresh process sees it with these variables (nothing connects; no S3 library needed)."""
    code = (
        "import django, json, os; os.environ['DJANGO_SETTINGS_MODULE']='soulsite.settings'; django.setup();"
        f"from django.conf import settings as s; print(json.dumps(s.{name}, default=str))"
    )
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SOUL_", "AWS_", "DATABASE_URL", "REDIS_URL", "DB_"))
    }
    environment.update(env)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def storages_in(**env) -> dict:
    return setting_in("STORAGES", **env)


def test_results_are_kept_on_local_disk_by_default():
    storages = storages_in()
    assert storages["default"]["BACKEND"] == "django.core.files.storage.FileSystemStorage"


def test_an_s3_bucket_from_the_environment_becomes_the_private_default_storage():
    storages = storages_in(
        SOUL_STORAGE="s3",
        AWS_STORAGE_BUCKET_NAME="soul-images",
        AWS_S3_ENDPOINT_URL="https://s3.example.com",
        AWS_S3_REGION_NAME="eu-central-1",
        AWS_ACCESS_KEY_ID="AKIDEXAMPLE",
        AWS_SECRET_ACCESS_KEY="not-a-real-secret",
    )
    default = storages["default"]
    assert default["BACKEND"] == "storages.backends.s3.S3Storage"
    options = default["OPTIONS"]
    assert options["bucket_name"] == "soul-images"
    assert options["endpoint_url"] == "https://s3.example.com"
    assert options["region_name"] == "eu-central-1"
    assert (options["access_key"], options["secret_key"]) == ("AKIDEXAMPLE", "not-a-real-secret")
    # Private objects; any URL the storage makes is signed and short-lived.
    assert options["default_acl"] == "private" and options["querystring_auth"] is True
    assert options["file_overwrite"] is False
    # Static files are not affected.
    assert storages["staticfiles"]["BACKEND"] == "whitenoise.storage.CompressedStaticFilesStorage"


def test_a_bucket_name_alone_selects_s3_and_empty_credentials_leave_them_to_boto3():
    options = storages_in(AWS_STORAGE_BUCKET_NAME="soul-images")["default"]["OPTIONS"]
    assert options["bucket_name"] == "soul-images"
    assert options["access_key"] is None and options["endpoint_url"] is None


def test_s3_without_a_bucket_is_a_clear_start_up_error():
    result = run_check(SOUL_STORAGE="s3")
    assert result.returncode != 0
    assert "AWS_STORAGE_BUCKET_NAME" in result.stderr


def test_database_url_and_redis_url_switch_the_database_and_the_task_broker():
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='soulsite.settings'; django.setup();"
        "from django.conf import settings as s; d = s.DATABASES['default'];"
        "print(d['ENGINE'], d['NAME'], d['HOST'], s.Q_CLUSTER.get('redis'), s.Q_CLUSTER.get('orm'), sep='|')"
    )

    def configured(**env) -> list[str]:
        environment = {
            k: v for k, v in os.environ.items() if not k.startswith(("SOUL_", "DATABASE_URL", "REDIS_URL"))
        }
        environment.update(env)
        command = [sys.executable, "-c", code]
        result = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip().splitlines()[-1].split("|")

    engine, _, _, redis, orm = configured()
    assert (engine, redis, orm) == ("django.db.backends.sqlite3", "None", "default")

    engine, name, host, redis, orm = configured(
        DATABASE_URL="postgres://soul:pw@db.internal:5432/soulsite", REDIS_URL="redis://cache.internal:6379/2"
    )
    assert (engine, name, host) == ("django.db.backends.postgresql", "soulsite", "db.internal")
    assert (redis, orm) == ("redis://cache.internal:6379/2", "None")


POSTGRES = "postgres://soul:pw@db.internal:5432/soulsite"


def test_postgresql_binds_parameters_on_the_server_and_prepares_repeated_queries():
    options = setting_in("DATABASES['default']['OPTIONS']", DATABASE_URL=POSTGRES)
    assert options == {"server_side_binding": True, "prepare_threshold": 5}


def test_prepared_statements_can_be_turned_off_for_a_pooler_that_cannot_keep_them():
    options = setting_in("DATABASES['default']['OPTIONS']", DATABASE_URL=POSTGRES, DB_PREPARED_STATEMENTS="0")
    assert options == {"server_side_binding": True, "prepare_threshold": None}


def test_options_in_the_database_url_are_kept():
    options = setting_in("DATABASES['default']['OPTIONS']", DATABASE_URL=POSTGRES + "?sslmode=require")
    assert options["sslmode"] == "require" and options["server_side_binding"] is True


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's")
def test_a_query_a_connection_repeats_is_prepared_on_postgresql():
    from generations.models import JobSet

    for _ in range(6):
        list(JobSet.objects.filter(prompt="prepared?"))
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        statements = [row[0] for row in cursor.fetchall()]
    # Sent as a statement with a parameter, not with the prompt quoted into it.
    assert any('"generations_jobset"."prompt" = $1' in statement for statement in statements), statements
