"""``manage.py soul_sandbox``: run the sandbox gateway in the foreground.

A thin wrapper: the options, the SOUL_SANDBOX_* variables and the serving are
:mod:`soulsandbox.cli`'s, the same as ``python -m soulsandbox``.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from soulsandbox import cli


class Command(BaseCommand):
    help = cli.DESCRIPTION
    # The sandbox needs neither the database nor the project's checks; start at once.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        cli.add_arguments(parser)

    def handle(self, *args: object, **options: object) -> None:
        try:
            server = cli.start(options)
        except (ValueError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        cli.run(server, self.stdout)
