"""Settings come from the environment and fail early when they cannot work."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
