import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from snapshots.ingest import IngestError, ingest_document
from snapshots.ingest.body import decode_json, read_stream
from snapshots.ingest.events import record_event
from snapshots.models import IngestEvent


class Command(BaseCommand):
    help = (
        "Ingest snapshot files (JSON, or gzip-compressed JSON) exactly as "
        "POST /api/v1/snapshots would. '-' reads one snapshot from stdin."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", help="snapshot files, or - for stdin")
        parser.add_argument(
            "--source", default="cli", help="recorded on ingest events (default: cli)"
        )

    def handle(self, *args, files, source, **options):
        stored, failed = [], 0
        progress = Progress(len(files), self.stderr) if len(files) > 1 else None
        for name in files:
            try:
                proc = ingest_file(name, source)
            except IngestError as exc:
                failed += 1
                where = f" at {exc.path}" if exc.path else ""
                self.stderr.write(f"{name}: {exc.status} {exc.message}{where}")
            else:
                stored.append(proc)
            if progress:
                progress.step()
        if progress:
            progress.done()
        self.stdout.write(summary(stored, failed))
        if failed:
            raise CommandError(f"{failed} of {len(files)} files were refused")


def ingest_file(name, source):
    try:
        if name == "-":
            body = read_stream(sys.stdin.buffer)
        else:
            with Path(name).open("rb") as stream:
                body = read_stream(stream)
        doc = decode_json(body)
    except OSError as exc:
        raise IngestError(400, f"cannot read the file: {exc.strerror or exc}", "") from None
    except IngestError as exc:
        kind = IngestEvent.DECODE_ERROR if exc.status == 400 else IngestEvent.REJECTED
        record_event(kind, status=exc.status, detail=f"{name}: {exc.message}", source=source)
        raise
    del body
    return ingest_document(doc, source=source)


def summary(stored, failed):
    nodes = sum(p.node_count for p in stored)
    edges = sum(p.edge_count for p in stored)
    unresolved = sum(p.unresolved_count for p in stored)
    ids = sorted({p.snapshot_id for p in stored})
    where = ""
    if ids:
        where = (
            f" into snapshot {ids[0]}" if len(ids) == 1 else f" into snapshots {ids[0]}–{ids[-1]}"
        )
    return (
        f"Ingested {len(stored)} {'file' if len(stored) == 1 else 'files'}{where}: "
        f"{nodes} nodes, {edges} edges, {unresolved} unresolved edges; {failed} refused."
    )


class Progress:
    """A one-line progress bar on stderr (redrawn in place on a terminal)."""

    WIDTH = 30

    def __init__(self, total, out):
        self.total, self.done_count, self.out = total, 0, out
        self.tty = out.isatty()

    def step(self):
        self.done_count += 1
        if self.tty:
            filled = self.WIDTH * self.done_count // self.total
            bar = "#" * filled + "." * (self.WIDTH - filled)
            self.out.write(f"\r[{bar}] {self.done_count}/{self.total}", ending="")
            self.out.flush()

    def done(self):
        if self.tty:
            self.out.write("")
