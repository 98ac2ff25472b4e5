"""`make bench` (``python -m soulbench``): seed throw-away databases, measure, report (docs/BENCHMARKS.md).

A package beside the app: it may import anything of it, and nothing of the app imports it.

- ``__main__``: the entry point; sets Django up, then runs the parent or a measuring child.
- ``options``: the command line, and what the parent passes on to each child.
- ``run``: the parent: one measuring child per database, then the table and the page.
- ``databases``: the throw-away SQLite file and PostgreSQL database, and the broker for each.
- ``measure``: a measuring child: migrate, seed, time pages, then ``live``; results to JSON.
- ``seed``: the bench person, and many finished job sets for them, with ``bulk_create``.
- ``web``: server time and query counts of pages, in-process with Django's test client.
- ``live``: tracking lag, idleness, draining and memory with a real cluster and gunicorn.
- ``upstream``: tracking lag, upstream requests, idleness and draining against the sandbox.
- ``processes``: a real cluster and gunicorn as child processes, and their memory.
- ``machine``: the machine's facts, and the speed check beside the page timings.
- ``report``: the table; ``document``: the markdown page.
"""
