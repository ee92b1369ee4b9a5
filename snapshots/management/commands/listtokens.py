from django.core.management.base import BaseCommand

from snapshots.models import IngestToken


class Command(BaseCommand):
    help = "List ingest tokens (names and dates; the tokens themselves are not stored)."

    def handle(self, *args, **options):
        tokens = list(IngestToken.objects.order_by("name"))
        if not tokens:
            self.stdout.write("No ingest tokens: ingest is open (fine for local use).")
            return
        for token in tokens:
            state = f"revoked {token.revoked_at:%Y-%m-%d %H:%M}" if token.revoked_at else "active"
            used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
            created = f"{token.created_at:%Y-%m-%d %H:%M}"
            self.stdout.write(f"{token.name}\t{state}\tcreated {created}\tlast used {used}")
