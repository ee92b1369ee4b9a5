"""Versioned rows (snapshots/versions.py): consecutive captures of a process
share what did not change, and every capture still reads exactly its rows."""

import copy
from datetime import timedelta

import orjson
import pytest
from django.utils import timezone

from snapshots import versions
from snapshots.ingest import ingest_document, store
from snapshots.ingest.errors import IngestError
from snapshots.models import (
    Edge,
    Frame,
    Node,
    PendingTrace,
    ProcessHead,
    ProcessSnapshot,
    Snapshot,
)
from snapshots.retention import delete_snapshots, prune_snapshots
from snapshots.scope import resolve_scope

from .conftest import small_doc

pytestmark = pytest.mark.django_db


def rows_in_tables():
    return {m.__name__: m.objects.count() for m in versions.VERSIONED}


def read(proc):
    """What a reader of the capture sees: node states and edges."""
    scope = resolve_scope(proc.snapshot_id)
    nodes = dict(scope.nodes().values_list("node_id", "state"))
    edges = set(scope.local_edges().values_list("src", "dst"))
    return nodes, edges


def with_state(state, doc=None):
    doc = doc or small_doc()
    doc["nodes"][0]["attrs"]["state"] = state  # task:svc-1:7
    return doc


def test_a_capture_that_changes_nothing_writes_no_rows():
    first = ingest_document(small_doc())
    before = rows_in_tables()
    second = ingest_document(small_doc())
    assert rows_in_tables() == before
    assert second.changed_rows == 0 and first.changed_rows is None
    assert read(second) == read(first)
    assert second.segment_id == first.segment_id == first.id


def test_a_changed_node_gets_a_new_version_and_each_capture_reads_its_own():
    first = ingest_document(with_state("pending"))
    second = ingest_document(with_state("running"))
    third = ingest_document(with_state("pending"))
    assert Node.objects.filter(node_id="task:svc-1:7").count() == 3
    assert Node.objects.count() == 3 + 2  # the two other nodes are shared
    assert read(first)[0]["task:svc-1:7"] == "pending"
    assert read(second)[0]["task:svc-1:7"] == "running"
    assert read(third)[0]["task:svc-1:7"] == "pending"
    assert second.changed_rows == 2  # one row ended, one added
    # The live view reads the newest capture.
    assert dict(resolve_scope("live").nodes().values_list("node_id", "state"))["task:svc-1:7"] == (
        "pending"
    )


def test_removed_and_added_edges_and_nodes():
    first = ingest_document(small_doc())
    doc = small_doc()
    doc["nodes"].append({"id": "future:svc-1:f", "kind": "future"})
    doc["edges"] = [e for e in doc["edges"] if e["src_id"] != "lock:svc-1:db_pool"]
    doc["edges"].append({"src_id": "task:svc-1:3", "dst_id": "future:svc-1:f", "kind": "needs"})
    second = ingest_document(doc)
    nodes1, edges1 = read(first)
    nodes2, edges2 = read(second)
    assert "future:svc-1:f" in nodes2 and "future:svc-1:f" not in nodes1
    assert ("lock:svc-1:db_pool", "task:svc-1:3") in edges1 - edges2
    assert ("task:svc-1:3", "future:svc-1:f") in edges2 - edges1
    assert len(edges2) == len(edges1)


def test_a_segment_is_written_again_once_its_changes_reach_the_rewrite_share(settings):
    settings.PEEPSWEB_SEGMENT_REWRITE = 1
    first = ingest_document(with_state("a"))
    head = ProcessHead.objects.get()
    assert head.segment_rows == rows_in_tables_total() and head.added_rows == 0
    procs = [ingest_document(with_state(s)) for s in "bcdefghijklmnop"]
    segments = [p.segment_id for p in procs]
    assert segments[0] == first.id
    assert len(set(segments)) > 1  # a new segment began on the way
    new = next(p for p in procs if p.segment_id != first.id)
    assert new.segment_id == new.id
    for proc, state in zip(procs, "bcdefghijklmnop", strict=True):
        assert read(proc)[0]["task:svc-1:7"] == state


def rows_in_tables_total():
    return sum(rows_in_tables().values())


def test_a_fresh_server_process_diffs_against_the_database():
    ingest_document(small_doc())
    versions.HEADS.clear()  # another server process, or a restart
    before = rows_in_tables()
    second = ingest_document(small_doc())
    assert rows_in_tables() == before and second.changed_rows == 0


@pytest.mark.parametrize("restart", [False, True])
def test_a_waker_stays_when_its_wake_leaves_the_senders_window(restart):
    """A sender sends its newest wakes: when task 7's wake is no longer
    among them, 7 keeps its last waker, and its row is not written again."""
    ingest_document(small_doc())  # task 3 woke task 7
    if restart:
        versions.HEADS.clear()  # the head's wakers come from the database
    nodes = Node.objects.count()
    second = ingest_document(small_doc(wake_events=[]))
    assert Node.objects.count() == nodes
    wakers = dict(resolve_scope(second.snapshot_id).nodes().values_list("node_id", "last_waker"))
    assert wakers["task:svc-1:7"] == "task:svc-1:3"
    # A newer wake in the window still wins.
    newer = {"at_ns": 30, "waker_task_id": 7, "woken_task_id": 7}
    third = ingest_document(small_doc(wake_events=[newer]))
    wakers = dict(resolve_scope(third.snapshot_id).nodes().values_list("node_id", "last_waker"))
    assert wakers["task:svc-1:7"] == "task:svc-1:7"


def test_a_failed_ingest_leaves_the_previous_capture_and_the_head_as_they_were(monkeypatch):
    first = ingest_document(with_state("pending"))
    expected = read(first)
    before = rows_in_tables()

    def fail(writer, rows):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(store, "write_frames", fail)
    with pytest.raises(RuntimeError):
        ingest_document(with_state("running"))  # rows closed and added before the failure
    monkeypatch.undo()
    assert rows_in_tables() == before
    assert read(first) == expected
    assert ProcessHead.objects.get().capture_id == first.id
    retry = ingest_document(with_state("running"))
    assert read(retry)[0]["task:svc-1:7"] == "running"
    assert read(first) == expected


def test_a_bad_edge_in_a_later_capture_stores_nothing():
    first = ingest_document(small_doc())
    before = rows_in_tables()
    doc = with_state("running")
    doc["edges"].append({"src_id": "task:svc-1:7", "dst_id": "future:svc-1:gone", "kind": "needs"})
    with pytest.raises(IngestError):
        ingest_document(doc)
    assert rows_in_tables() == before
    assert Snapshot.objects.count() == 1
    assert read(first)[0]["task:svc-1:7"] == "pending"


def test_identical_rows_are_counted_not_merged():
    """Two traces with the same content: the next capture keeps one of them."""
    doc = small_doc()
    doc["pending_traces"].append(dict(doc["pending_traces"][0]))
    first = ingest_document(doc)
    assert versions.of(PendingTrace, first).count() == 2
    second = ingest_document(small_doc())
    assert versions.of(PendingTrace, second).count() == 1
    assert versions.of(PendingTrace, first).count() == 2


def seen_digests(proc):
    """model name -> the sorted digests of the rows a capture sees (its content)."""
    return {
        m.__name__: sorted(versions.of(m, proc).values_list("digest", flat=True))
        for m in versions.VERSIONED
    }


def changing_docs():
    """Captures that each end rows of every versioned table: a node's new
    state, a node and its edge gone, an unresolved edge gone and back with
    other attrs, a frame's text, one of two identical traces."""
    base = small_doc()
    base["edges"].append({"src_id": "task:svc-1:3", "dst_id": "task:svc-2:9", "kind": "needs"})
    base["pending_traces"].append(dict(base["pending_traces"][0]))
    second = with_state("running", copy.deepcopy(base))
    second["frames"]["2"] = "svc::handle_v2"
    second["pending_traces"].pop()
    second["edges"] = second["edges"][:1]  # no lock -> task 3, no unresolved edge
    third = copy.deepcopy(second)
    third["nodes"] = [n for n in third["nodes"] if n["kind"] != "lock"]
    third["edges"] = [{"src_id": "task:svc-1:3", "dst_id": "task:svc-2:9", "kind": "needs"}]
    third["edges"][0]["attrs"] = {"held": False}
    return [base, second, third, base]


@pytest.mark.parametrize("head", ["cached", "reloaded", "too big to cache"])
def test_closing_ends_exactly_the_rows_gone_from_the_next_capture(
    head, settings, django_capture_on_commit_callbacks
):
    """Ingest closes a gone row by its CLOSE_BY column and digest, from the
    head the server process cached or read back from the database (another
    server process, a restart, or a head too big for the cache, whose
    writer kept no CLOSE_BY values): every capture goes on seeing exactly
    what it saw when it was stored, and the open rows are the newest capture's."""
    if head == "too big to cache":
        settings.PEEPSWEB_HEAD_CACHE_ROWS = 16  # a quarter: 4 rows
    versions.HEADS.clear()
    procs, seen = [], []
    for doc in changing_docs():
        cached = bool(procs) and versions.HEADS.get("svc-1", procs[-1].id) is not None
        assert cached is (bool(procs) and head == "cached")
        with django_capture_on_commit_callbacks(execute=True):  # caches the head
            procs.append(ingest_document(doc))
        if head == "reloaded":
            versions.HEADS.clear()
        seen.append(seen_digests(procs[-1]))
    assert procs[-1].segment_id == procs[0].id  # all in one segment
    assert seen[1] != seen[0] and seen[2] != seen[1] and seen[3] == seen[0]
    for proc, expected in zip(procs, seen, strict=True):
        assert seen_digests(proc) == expected
    for model in versions.VERSIONED:
        still_open = model.objects.filter(last_id=versions.OPEN).values_list("digest", flat=True)
        assert sorted(still_open) == seen[-1][model.__name__], model.__name__


def test_a_trace_that_keeps_its_start_is_shared_while_its_duration_grows():
    first_doc = small_doc()
    first_doc["pending_traces"] = [
        {"task_id": 7, "at_ns": 1000, "since_ns": 400, "frame_ids": [1, 2]}
    ]
    first = ingest_document(first_doc)
    second_doc = small_doc()
    second_doc["captured_at_ns"] += 1_000_000_000
    second_doc["pending_traces"] = [
        {"task_id": 7, "at_ns": 2000, "duration_us": 0, "since_ns": 400, "frame_ids": [1, 2]}
    ]
    second = ingest_document(second_doc)
    assert PendingTrace.objects.count() == 1
    d1 = versions.of(PendingTrace, first).get().duration_us
    d2 = versions.of(PendingTrace, second).get().duration_us
    assert d2 - d1 == 1_000_000  # one second later, read as of each capture


def test_deleting_the_newest_capture_starts_a_new_segment():
    first = ingest_document(small_doc())
    second = ingest_document(with_state("running"))
    delete_snapshots([second.snapshot_id])
    assert not ProcessHead.objects.exists()
    third = ingest_document(with_state("running"))
    assert third.segment_id == third.id
    assert read(third)[0]["task:svc-1:7"] == "running"
    assert read(first)[0]["task:svc-1:7"] == "pending"
    for model in (Node, Edge, Frame):
        assert model.objects.count() == (
            versions.of(model, first).count() + versions.of(model, third).count()
        )


def test_thinning_keeps_one_capture_per_interval_landmarks_and_the_newest(settings):
    """Captures 10 s apart, older than KEEP_FULL: one per minute stays, plus
    the capture where a node changed state class, plus the newest."""
    settings.PEEPSWEB_THIN_INTERVAL = 60
    procs = []
    for i in range(20):
        doc = with_state("running" if i == 8 else "pending")
        doc["nodes"][1]["attrs"]["polls"] = i  # changes every capture, not a state class
        doc["captured_at_ns"] = 1_763_772_000_000_000_000 + i * 10_000_000_000
        procs.append(ingest_document(doc))
    assert [p.landmark for p in procs].count(True) == 3  # the first, 8 (running), 9 (back)
    removed = prune_snapshots(now=timezone.now() + timedelta(hours=1))
    kept = list(ProcessSnapshot.objects.order_by("id").values_list("id", flat=True))
    expected = [procs[i].id for i in (0, 6, 8, 9, 15, 19)]
    assert kept == expected and removed == 20 - len(expected)
    for i in (0, 8, 9, 19):  # every capture left still reads what it stored
        assert read(procs[i])[0]["task:svc-1:7"] == ("running" if i == 8 else "pending")
    # A second pass changes nothing: each capture is looked at once.
    assert prune_snapshots(now=timezone.now() + timedelta(hours=1)) == 0


def test_captures_older_than_keep_hours_go(settings):
    settings.PEEPSWEB_KEEP_HOURS = 1
    old = ingest_document(small_doc())
    Snapshot.objects.filter(id=old.snapshot_id).update(
        created_at=timezone.now() - timedelta(hours=2)
    )
    new = ingest_document(with_state("running"))  # prunes after itself
    assert list(Snapshot.objects.values_list("id", flat=True)) == [new.snapshot_id]
    assert read(new)[0]["task:svc-1:7"] == "running"
    assert Node.objects.count() == 3


def test_a_row_digest_is_the_xxh3_of_its_json_and_never_changes():
    # Digests are stored: a head written by an older server is compared with
    # digests computed now, so the function must stay exactly this (a change
    # makes every process's next capture write all its rows again).
    row = ("svc-1", "task:svc-1:7", "task", "worker", '{"state":"pending"}', 7, None, "")
    assert orjson.dumps(row) == b'["svc-1","task:svc-1:7","task","worker",' + (
        b'"{\\"state\\":\\"pending\\"}",7,null,""]'
    )
    # XXH3-64 of those bytes, 0x00e4729d08a563f5, minus 2**63: a signed bigint.
    assert versions.digest(row) == 0x00E4729D08A563F5 - 2**63 == -9159069723384257547


def test_a_capture_too_big_for_the_head_cache_stores_the_same_digests(settings):
    """A first capture too big for the head cache is written without
    counting its digests (Writer.add's shortcut): its rows carry the same
    digests as when they are counted, and the next capture, diffing against
    them as reloaded from the database, shares them all."""
    versions.HEADS.clear()
    counted = ingest_document(small_doc())
    expected = seen_digests(counted)
    delete_snapshots([counted.snapshot_id])
    settings.PEEPSWEB_HEAD_CACHE_ROWS = 16  # a quarter: 4 rows; small_doc has more
    first = ingest_document(small_doc())
    assert first.segment_id == first.id and seen_digests(first) == expected
    before = rows_in_tables()
    second = ingest_document(small_doc())
    assert rows_in_tables() == before and second.changed_rows == 0
