from django.conf import settings
from django.core.management.base import BaseCommand

from snapshots.retention import prune_ingest_events, prune_snapshots


class Command(BaseCommand):
    help = "Delete all but the newest PEEPSWEB_KEEP_SNAPSHOTS snapshots (and old ingest events)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--keep",
            type=int,
            default=None,
            help=f"how many snapshots to keep (default: {settings.PEEPSWEB_KEEP_SNAPSHOTS})",
        )

    def handle(self, *args, keep, **options):
        keep = settings.PEEPSWEB_KEEP_SNAPSHOTS if keep is None else max(keep, 1)
        pruned = prune_snapshots(keep)
        prune_ingest_events()
        noun = "snapshot" if pruned == 1 else "snapshots"
        self.stdout.write(f"Pruned {pruned} {noun}, kept the newest {keep}.")
