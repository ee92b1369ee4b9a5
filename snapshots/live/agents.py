"""What the agent consumer does to the database (plain sync functions: the
consumer calls them through database_sync_to_async, tests call them directly).
"""

import random
import time

from django.utils import timezone

from snapshots import auth
from snapshots.ingest import ingest_document, response_body
from snapshots.ingest.errors import IngestError
from snapshots.ingest.events import record_event
from snapshots.ingest.validate import PROC_KEY_RE, PROCESS_MAX_CHARS
from snapshots.live import publish, pull
from snapshots.models import Agent, IngestEvent, ProcessSnapshot

SOURCE = "ws"
# Statuses of a refused reply that mean "this agent cannot produce a valid
# snapshot": its pending row in the pull becomes `error` (a 409 does not: it
# is about the pull, not the agent's data).
BAD_DATA = (400, 413, 415)
STORAGE_RETRIES = 6  # ~2.5 s at most in all


def token_allows(scope):
    """The websocket handshake carries the same bearer token as ingest."""
    headers = dict(scope.get("headers") or [])
    header = headers.get(b"authorization", b"").decode("latin1")
    return auth.token_allows(header)


def parse_hello(message):
    """{"type": "hello", "process", "pid", "proc_key"} -> a checked dict."""
    process = message.get("process")
    if not isinstance(process, str) or not 1 <= len(process) <= PROCESS_MAX_CHARS:
        raise IngestError(
            400, f"process must be a string of 1..{PROCESS_MAX_CHARS} chars", "process"
        )
    proc_key = message.get("proc_key")
    if not isinstance(proc_key, str) or not PROC_KEY_RE.fullmatch(proc_key):
        raise IngestError(400, "proc_key must match [a-z0-9._-]{1,64}", "proc_key")
    pid = message.get("pid")
    if pid is not None and (type(pid) is not int or not 0 <= pid < 2**63):
        raise IngestError(400, "pid must be a non-negative integer or null", "pid")
    return {"process": process, "pid": pid, "proc_key": proc_key}


def register(channel_name, hello):
    now = timezone.now()
    Agent.objects.update_or_create(
        channel_name=channel_name,
        defaults={**hello, "last_seen_at": now},
        create_defaults={**hello, "connected_at": now, "last_seen_at": now},
    )
    publish.agents_changed()


def touch(channel_name):
    Agent.objects.filter(channel_name=channel_name).update(last_seen_at=timezone.now())


def forget(channel_name, proc_key):
    Agent.objects.filter(channel_name=channel_name).delete()
    if not Agent.objects.alive().filter(proc_key=proc_key).exists():
        pull.mark_disconnected(proc_key)
    publish.agents_changed()


def ingest_reply(channel_name, agent, message):
    """A {"type": "snapshot"} message -> the 201 body ingest gives over HTTP.

    Ingest checks the snapshot_id (an open pull, before its deadline, with a
    pending row for this proc_key) exactly as for a POSTed reply."""
    touch(channel_name)
    snapshot_id = message.get("snapshot_id")
    if type(snapshot_id) is not int:
        raise record_refusal(
            agent, None, IngestError(400, "snapshot_id must be an integer", "snapshot_id")
        )
    body = message.get("snapshot")
    if not isinstance(body, dict):
        raise record_refusal(
            agent, snapshot_id, IngestError(400, "snapshot must be a JSON object", "snapshot")
        )
    if body.get("snapshot_id") not in (None, snapshot_id):
        raise record_refusal(
            agent,
            snapshot_id,
            IngestError(
                400, "snapshot.snapshot_id differs from snapshot_id", "snapshot.snapshot_id"
            ),
        )
    if "proc_key" in body and body["proc_key"] != agent["proc_key"]:
        # An agent answers for itself only, never for another process.
        raise record_refusal(
            agent,
            snapshot_id,
            IngestError(409, "the reply's proc_key is not this agent's", "snapshot.proc_key"),
        )
    doc = {**body, "snapshot_id": snapshot_id}
    for attempt in range(STORAGE_RETRIES + 1):
        try:
            proc = ingest_document(doc, source=SOURCE)
            break
        except IngestError as err:
            # 503: the database was busy. On SQLite two replies committing at
            # once make one fail at once ("database is locked": a read
            # snapshot cannot be upgraded to a write); the transaction rolled
            # back, so trying again is safe, and an agent does not retry.
            if err.status == 503 and attempt < STORAGE_RETRIES:
                time.sleep(0.02 * 2**attempt * (0.5 + random.random()))
                continue
            if err.status in BAD_DATA:
                pull.mark_pending(
                    snapshot_id, agent["proc_key"], ProcessSnapshot.ERROR, err.message
                )
            raise
    return {"status": 201, **response_body(proc)}


def record_agent_error(channel_name, agent, message):
    """{"type": "snapshot_error"}: the agent could not take its snapshot."""
    touch(channel_name)
    snapshot_id = message.get("snapshot_id")
    if type(snapshot_id) is not int:
        raise IngestError(400, "snapshot_id must be an integer", "snapshot_id")
    detail = message.get("error")
    detail = detail if isinstance(detail, str) and detail else "the agent reported an error"
    if not pull.mark_pending(
        snapshot_id, agent["proc_key"], ProcessSnapshot.ERROR, f"agent: {detail}"
    ):
        raise record_refusal(
            agent,
            snapshot_id,
            IngestError(
                409, f"pull {snapshot_id} is not waiting for {agent['proc_key']}", "snapshot_id"
            ),
        )


def record_refusal(agent, snapshot_id, err, kind=IngestEvent.REJECTED):
    """Keep a trace of a refused message for operators; returns `err` to raise.
    (Refusals from ingest_document itself are recorded by ingest.)"""
    kind = {413: IngestEvent.OVERSIZE, 409: IngestEvent.LATE_REPLY}.get(err.status, kind)
    record_event(
        kind,
        status=err.status,
        detail=str(err),
        source=SOURCE,
        proc_key=(agent or {}).get("proc_key", ""),
        snapshot_id=snapshot_id,
    )
    return err
