"""`manage.py soul_bench`: seed throw-away databases, measure, report (see docs/BENCHMARKS.md).

- ``databases``: the throw-away SQLite file and PostgreSQL database, and the broker for each.
- ``seed``: many finished job sets for one person, with ``bulk_create``.
- ``web``: server time and query counts of pages, in-process with Django's test client.
- ``processes``: a real cluster and gunicorn as subprocesses, and their memory.
- ``upstream``: tracking lag, upstream requests, idleness and draining against the sandbox.
- ``report``: the table and the markdown page.
"""
