"""POST /api/v1/snapshots: the HTTP face of ingest (SNAPSHOT_FORMAT.md).

Thin on purpose: check the token, read and decode the body, hand the
document to snapshots.ingest, map errors to statuses. Routed from
snapshots/api/urls.py, which shares the URL with the GET snapshot list.
"""

import time

from snapshots.api.views import json_error, json_response
from snapshots.auth import AuthError, check_authorization
from snapshots.ingest import IngestError, ingest_document, response_body
from snapshots.ingest.body import decode_json, read_body
from snapshots.ingest.events import record_event
from snapshots.models import IngestEvent

SOURCE = "http"
RETRY_AFTER_S = 5


def post_snapshot(request):
    timer = Timer()
    # A database error outside ingest_document (the token lookup, the event
    # log) goes on to peepsweb.errors.StorageUnavailableMiddleware: the same
    # 503 as every view's, with its cause logged.
    try:
        check_authorization(request.headers.get("Authorization"))
        doc = _read_document(request, timer)
        proc = ingest_document(doc, source=SOURCE)
        del doc
        timer.lap("ingest")
    except AuthError as exc:
        response = json_error(exc.status, exc.message)
        if exc.status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="peepsweb ingest"'
        return response
    except IngestError as exc:
        return error_response(exc)
    response = json_response(response_body(proc), status=201)
    response["Location"] = f"/api/v1/snapshots/{proc.snapshot_id}"
    # Where the time went (browser devtools and bench/ingest.py show it);
    # "announce" is the process_snapshot_stored listeners (live updates).
    announce = getattr(proc, "announce_seconds", 0.0)
    timer.laps["ingest"] -= announce
    # ingest, step by step: validate, edges, nodes, other_rows, commit
    timer.laps.update(getattr(proc, "timings", {}))
    timer.laps["announce"] = announce
    response["Server-Timing"] = timer.header()
    return response


class Timer:
    def __init__(self):
        self.laps = {}
        self.last = time.perf_counter()

    def lap(self, name):
        now = time.perf_counter()
        self.laps[name] = now - self.last
        self.last = now

    def header(self):
        return ", ".join(f"{name};dur={seconds * 1000:.1f}" for name, seconds in self.laps.items())


def _read_document(request, timer):
    try:
        body = read_body(request)
        timer.lap("read")
    except IngestError as exc:
        kind = IngestEvent.DECODE_ERROR if exc.status == 400 else IngestEvent.REJECTED
        record_event(kind, status=exc.status, detail=exc.message, source=SOURCE)
        raise
    try:
        doc = decode_json(body)
        timer.lap("decode")
        return doc
    except IngestError as exc:
        record_event(IngestEvent.DECODE_ERROR, status=exc.status, detail=exc.message, source=SOURCE)
        raise


def error_response(exc):
    response = json_error(exc.status, exc.message, exc.path)
    if exc.status == 503:
        response["Retry-After"] = str(RETRY_AFTER_S)
    return response
