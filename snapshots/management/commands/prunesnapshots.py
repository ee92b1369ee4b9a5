from django.conf import settings
from django.core.management.base import BaseCommand

from snapshots.models import Node
from snapshots.retention import prune_ingest_events, prune_snapshots, stored_bytes


class Command(BaseCommand):
    help = (
        "Apply the retention policy now: every capture of PEEPSWEB_KEEP_FULL, then thinned "
        "to one per process per PEEPSWEB_THIN_INTERVAL up to PEEPSWEB_KEEP_HOURS, within "
        "PEEPSWEB_KEEP_MAX_MB and PEEPSWEB_KEEP_SNAPSHOTS (and old ingest events)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--keep",
            type=int,
            default=None,
            help="keep at most this many snapshots, the newest "
            f"(default PEEPSWEB_KEEP_SNAPSHOTS: {settings.PEEPSWEB_KEEP_SNAPSHOTS or 'no cap'})",
        )

    def handle(self, *args, keep, **options):
        keep = settings.PEEPSWEB_KEEP_SNAPSHOTS if keep is None else max(keep, 1)
        nodes_before, bytes_before = Node.objects.count(), stored_bytes()
        pruned = prune_snapshots(keep)
        events = prune_ingest_events()
        noun = "snapshot" if pruned == 1 else "snapshots"
        removed = nodes_before - Node.objects.count()
        self.stdout.write(
            f"Pruned {pruned} {noun} ({removed:,} node rows; {events:,} ingest events); "
            f"stored {bytes_before / 1e6:,.1f} MB before "
            "(PostgreSQL reuses the space after autovacuum)."
        )
