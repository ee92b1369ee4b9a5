"""IngestEvent rows: what ingest refused or noticed, for operators.

Recorded outside the rolled-back ingest transaction, kept short (the detail
is truncated) and never allowed to turn a 4xx into a 500."""

import logging

from django.db import DatabaseError

from snapshots.models import IngestEvent

log = logging.getLogger(__name__)
DETAIL_MAX = 1000


def _storable(text):
    # PostgreSQL text cannot hold NUL, and a refusal of a NUL (in `process`,
    # an id...) must still be recorded: it is written as the JSON escape.
    return str(text).replace("\x00", "\\u0000")


def record_event(kind, *, status=None, detail="", source="", proc_key="", snapshot_id=None):
    try:
        IngestEvent.objects.create(
            kind=kind,
            status=status,
            detail=_storable(detail)[:DETAIL_MAX],
            source=_storable(source)[:64],
            proc_key=_storable(proc_key)[:64] if isinstance(proc_key, str) else "",
            snapshot_id=snapshot_id if isinstance(snapshot_id, int) else None,
        )
    except DatabaseError:
        log.warning("could not record ingest event %s: %s", kind, detail, exc_info=True)


def record_error(exc, *, source, identity=("", None)):
    """Record an IngestError: 409 is a late (or unknown) pull reply, the rest
    rejections. identity: (proc_key, snapshot_id) from document_identity()."""
    proc_key, snapshot_id = identity
    kind = IngestEvent.LATE_REPLY if exc.status == 409 else IngestEvent.REJECTED
    detail = f"{exc.path}: {exc.message}" if exc.path else exc.message
    record_event(
        kind,
        status=exc.status,
        detail=detail,
        source=source,
        proc_key=proc_key,
        snapshot_id=snapshot_id,
    )


def document_identity(doc):
    """(proc_key, snapshot_id) of a document, as far as they can be told."""
    if not isinstance(doc, dict):
        return "", None
    snapshot_id = doc.get("snapshot_id")
    proc_key = doc.get("proc_key")
    if proc_key is None and isinstance(doc.get("process_name"), str):
        proc_key = doc["process_name"]
    if type(snapshot_id) is not int or not 0 < snapshot_id < 2**63:
        snapshot_id = None
    return (proc_key if isinstance(proc_key, str) else ""), snapshot_id
