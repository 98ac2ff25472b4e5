"""The parent of a benchmark run: one measuring child per database, then the table and the page.

For each database (a temporary SQLite file; a PostgreSQL database ``soulsite_bench``
created and dropped here, skipped with a line in the table when PostgreSQL does not
answer) a child process, ``python -m soulbench --child``, runs on that database
alone (``soulbench.measure``): settings read the database and the broker from the
environment once, at start-up. Nothing here touches the configured database.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from django.conf import settings

from soulbench import databases, document, options, report


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def show(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def run(chosen: dict) -> None:
    started = time.monotonic()
    folder = Path(tempfile.mkdtemp(prefix="soulsite-bench-"))
    wanted = [name.strip() for name in chosen["databases"].split(",") if name.strip()]
    targets = []
    if "sqlite" in wanted:
        targets.append(databases.sqlite_target(folder))
    if "postgres" in wanted:
        targets.append(databases.postgres_target())
    collected: list[tuple[str, dict]] = []
    try:
        for target in targets:
            if target.skipped:
                say(f"== {target.label}: skipped, {target.skipped}")
                collected.append((target.label, {"skipped": target.skipped}))
                continue
            say(f"== {target.label}")
            databases.create(target)
            try:
                collected.append((target.label, measure_in_child(target, chosen, folder)))
            finally:
                if chosen["keep_databases"]:
                    say(f"   kept {target.database_url}")
                else:
                    databases.drop(target)
    finally:
        if not chosen["keep_databases"]:
            shutil.rmtree(folder, ignore_errors=True)
    minutes = (time.monotonic() - started) / 60
    header, cells = report.table(collected, chosen["sizes"])
    show("\n" + report.plain(header, cells) + "\n")
    missed = report.missed(collected, chosen["sizes"])
    if missed:
        show("Targets missed:\n" + "\n".join(f"  - {line}" for line in missed) + "\n")
    if chosen["output"] and chosen["only"] != "all":
        show(f"Measured only {chosen['only']}: {chosen['output']} is left as it was.")
    elif chosen["output"]:
        page = document.page(header, cells, missed, collected, chosen, minutes)
        Path(chosen["output"]).write_text(page)
        show(f"Wrote {chosen['output']} ({minutes:.1f} min).")


def measure_in_child(target: databases.Target, chosen: dict, folder: Path) -> dict:
    """Run ``python -m soulbench --child`` on ``target``'s database and read what it measured."""
    out = folder / f"{target.key}.json"
    media = folder / f"media-{target.key}"
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "REDIS_URL", "SOUL_PUBLIC_URL")
    }
    env.update(
        DATABASE_URL=target.database_url,
        MEDIA_ROOT=str(media),
        DJANGO_DEBUG="0",
        LOG_LEVEL="WARNING",
        SOUL_SANDBOX="1",
        SOUL_API_KEY="bench",
    )
    if target.redis_url:
        env["REDIS_URL"] = target.redis_url
    command = [sys.executable, "-m", "soulbench", *options.child_arguments(chosen, str(out))]
    # Waited for in the foreground, in this process group: Ctrl-C stops the child as well.
    finished = subprocess.run(command, env=env, cwd=settings.BASE_DIR, check=False)
    results = json.loads(out.read_text()) if out.exists() else {}
    if finished.returncode != 0:
        results["error"] = f"the measuring process exited with {finished.returncode}"
        say(f"   {target.label}: {results['error']}; the table shows what it measured")
    results["label"] = target.label
    return results
