"""Recompute the daily spend roll-up from job sets (after changing TIME_ZONE, or to check it)."""

from django.core.management.base import BaseCommand

from generations.ledger import rollup as spend_days


class Command(BaseCommand):
    help = (
        "Recompute the spend page's daily roll-up from every job set. Run it after changing TIME_ZONE: "
        "days are days in the site's time zone."
    )

    def handle(self, *args, **options):
        rows = spend_days.rebuild()
        self.stdout.write(
            self.style.SUCCESS(f"Spend roll-up rebuilt: {rows} days of spend per person and team.")
        )
