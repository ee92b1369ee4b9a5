"""Getting snapshots into the database, exactly per SNAPSHOT_FORMAT.md.

    from snapshots.ingest import ingest_document, IngestError
    proc = ingest_document(doc, source="http")   # -> ProcessSnapshot

`doc` is a decoded body (a dict). Bad input raises IngestError(status,
message, path); nothing of a rejected body is stored. The HTTP view, the
`ingest` command and the agent websocket all come through here.
"""

import logging
import time

from django.db import InterfaceError, OperationalError

from snapshots.gc_pause import paused_gc
from snapshots.ingest.errors import IngestError
from snapshots.ingest.events import document_identity, record_error
from snapshots.ingest.store import store_parsed
from snapshots.ingest.validate import parse_document

__all__ = ["IngestError", "ingest_document", "response_body"]
log = logging.getLogger(__name__)


def ingest_document(doc, *, source="http"):
    """Validate and store one process snapshot; returns its ProcessSnapshot."""
    from snapshots.retention import prune_after_ingest

    identity = document_identity(doc)  # before parse_document takes the document over
    # Ingest makes hundreds of thousands of small objects and no reference
    # cycles; the cyclic GC would rescan all of them again and again.
    try:
        with paused_gc():
            started = time.perf_counter()
            parsed = parse_document(doc)
            validated = time.perf_counter() - started
            proc = store_parsed(parsed)
            del parsed
            proc.timings = {"validate": validated, **proc.timings}
    except IngestError as exc:
        record_error(exc, source=source, identity=identity)
        raise
    except (OperationalError, InterfaceError) as exc:
        # The database is down or locked: the sender should retry, not give up.
        log.warning("storage unavailable, answering 503 to a %s ingest: %s", source, exc)
        raise IngestError(503, f"storage unavailable: {exc}".strip()[:300], "") from exc
    prune_after_ingest()
    return proc


def response_body(proc):
    """The 201 body of the contract."""
    return {
        "snapshot_id": proc.snapshot_id,
        "process": proc.process,
        "proc_key": proc.proc_key,
        "nodes": proc.node_count,
        "edges": proc.edge_count,
        "unresolved_edges": proc.unresolved_count,
        "wake_events": proc.wake_count,
        "pending_traces": proc.trace_count,
    }
