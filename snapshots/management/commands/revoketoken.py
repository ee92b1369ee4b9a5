from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from snapshots.models import IngestToken


class Command(BaseCommand):
    help = (
        "Revoke an ingest token; --delete removes it instead (once no token is "
        "left at all, the server accepts ingest without one again)."
    )

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--delete", action="store_true", help="delete instead of revoking")

    def handle(self, *args, name, delete, **options):
        tokens = IngestToken.objects.filter(name=name)
        if not tokens.exists():
            raise CommandError(f"no token named {name!r}")
        if delete:
            tokens.delete()
            left = IngestToken.objects.count()
            after = "ingest is open again" if not left else f"{left} tokens left"
            self.stdout.write(f"Deleted token {name!r}; {after}.")
        else:
            tokens.update(revoked_at=timezone.now())
            self.stdout.write(f"Revoked token {name!r}.")
