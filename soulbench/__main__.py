"""``python -m soulbench``: measure soulsite on throw-away databases (what `make bench` runs).

Run without ``--child``, it is the parent: one measuring child per database, then
the table and docs/BENCHMARKS.md (``soulbench.run``). With ``--child PATH`` it is
such a child, measuring on the database its environment names and writing JSON to
PATH (``soulbench.measure``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "soulsite.settings")
    import django

    django.setup()

    from soulbench import options

    chosen = options.parse(argv)
    if chosen["child"]:
        from soulbench import measure

        measure.measure(chosen, Path(chosen["child"]))
    else:
        from soulbench import run

        run.run(chosen)
    return 0


if __name__ == "__main__":
    sys.exit(main())
