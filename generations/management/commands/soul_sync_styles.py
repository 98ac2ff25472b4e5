"""Refresh the style catalogue from the gateway's styles endpoint (SOUL_STYLES_PATH)."""

from django.core.management.base import BaseCommand, CommandError

from generations.actions import styles
from generations.upstream.client import SoulError


class Command(BaseCommand):
    help = "Fetch Soul's styles list: add new styles, update changed ones, deactivate ones that are gone."

    def handle(self, *args, **options):
        try:
            result = styles.sync()
        except SoulError as exc:
            raise CommandError(f"Could not sync styles: {exc.message}") from exc
        self.stdout.write(self.style.SUCCESS(f"Styles synced: {result}."))
