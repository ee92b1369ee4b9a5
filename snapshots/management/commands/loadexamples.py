from pathlib import Path

from django.core.management.base import BaseCommand

from snapshots.ingest import ingest_document
from snapshots.ingest.body import decode_json, read_stream

EXAMPLES = Path(__file__).resolve().parents[2] / "example_snapshots"


class Command(BaseCommand):
    help = "Ingest the example snapshots shipped with peepsweb, so there is data to look at."

    def add_arguments(self, parser):
        parser.add_argument(
            "--dir",
            dest="directory",
            type=Path,
            default=EXAMPLES,
            help="where the *.json files are",
        )

    def handle(self, *args, directory, **options):
        files = sorted(directory.glob("*.json"))
        stored = []
        for path in files:
            with path.open("rb") as stream:
                proc = ingest_document(decode_json(read_stream(stream)), source="examples")
            stored.append(proc)
            self.stdout.write(
                f"  {path.name}: snapshot {proc.snapshot_id}, {proc.proc_key}, "
                f"{proc.node_count} nodes, {proc.edge_count} edges",
            )
        self.stdout.write(f"Loaded {len(stored)} example snapshots.")
