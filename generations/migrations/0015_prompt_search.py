"""Indexed prompt search (generations/queries/search.py says how each index is used).

- SQLite: an FTS5 table with the trigram tokenizer over the job sets' prompts, its content
  read from the job set table itself (external content) and kept in step by three triggers;
  filled from the rows already there. Its SQL lives with the search that reads it
  (``generations.queries.search.install_sqlite_index``), which also runs after every
  ``migrate`` to put back triggers a table rebuild dropped.
- PostgreSQL: the pg_trgm extension and a GIN index on ``UPPER(prompt)``, the expression
  Django's ``icontains`` compares, built ``CONCURRENTLY`` so the job set table stays writable
  while it is built (about 100 s at 1,000,000 job sets). Creating the extension needs a
  superuser or a managed service's allow-list (docs/DEPLOY.md).

A later migration that makes SQLite rebuild the job set table (Django does for most column
changes) drops the triggers with the old table; ``search.after_migrate`` (a post_migrate
receiver, connected in GenerationsConfig.ready) makes them again, and tests/test_search.py
fails when they are gone.
"""

from django.db import migrations

from generations.queries import search

INDEX = search.PG_INDEX

def forwards(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            search.install_sqlite_index(connection)
        elif connection.vendor == "postgresql":
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            # A CONCURRENTLY build that failed half-way leaves an invalid index behind: start again.
            cursor.execute(
                "SELECT 1 FROM pg_index WHERE indexrelid = to_regclass(%s) AND NOT indisvalid", [INDEX]
            )
            if cursor.fetchone():
                cursor.execute(f"DROP INDEX CONCURRENTLY {INDEX}")
            cursor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} {search.PG_INDEX_SQL}")
            cursor.execute(search.PG_STATISTICS_SQL)


def backwards(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            for action in ("insert", "delete", "update"):
                cursor.execute(f"DROP TRIGGER IF EXISTS generations_jobset_search_{action}")
            cursor.execute("DROP TABLE IF EXISTS generations_jobset_search")
        elif connection.vendor == "postgresql":
            # The extension stays: other databases' objects on this server may use it.
            cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [("generations", "0014_line_index")]

    operations = [migrations.RunPython(forwards, backwards, atomic=False)]
