from urllib.parse import quote

import pytest

from snapshots import queries
from snapshots.ingest import ingest_document
from snapshots.scope import resolve_scope
from tests.api.helpers import get_json, load, needs, node, push, task
from tests.support.examples import read_example

pytestmark = pytest.mark.django_db


def detail(client, sid, node_id, status=200):
    return get_json(client, f"/api/v1/snapshots/{sid}/nodes/{node_id}", status)


def test_it_shows_the_node_with_its_attrs(client):
    sid = load("mutex_lock_order_inversion").snapshot_id
    body = detail(client, sid, "lock:lock-demo-4242:account_a")
    assert body["snapshot_id"] == sid
    assert body["node"]["kind"] == "lock"
    assert body["node"]["attrs"]["holder_count"] == 1
    assert body["node"]["state"] is None


def test_it_lists_needs_and_needed_by_with_the_other_ends_described(client):
    sid = load("mutex_lock_order_inversion").snapshot_id
    body = detail(client, sid, "task:lock-demo-4242:11")
    (need,) = body["needs"]
    assert need["src"] == "task:lock-demo-4242:11"
    assert need["dst"] == need["other_id"] == "lock:lock-demo-4242:account_b"
    assert need["other"] == {
        "node_id": "lock:lock-demo-4242:account_b",
        "kind": "lock",
        "label": "account_b",
        "proc_key": "lock-demo-4242",
        "state": None,
        "state_class": None,
    }
    assert (need["cross_process"], need["unresolved"]) == (False, False)
    assert [e["other_id"] for e in body["needed_by"]] == [
        "lock:lock-demo-4242:account_a",
        "task:lock-demo-4242:1",
    ]
    main = body["needed_by"][1]["other"]
    assert (main["label"], main["state"], main["state_class"]) == ("main", "pending", "waiting")
    assert (body["needs_total"], body["needed_by_total"]) == (1, 2)


def test_a_cross_process_edge_resolves_in_the_live_view(client, rpc_pair):
    body = detail(client, "live", "response:backend-200:conn_1:7")
    incoming = [e for e in body["needed_by"] if e["cross_process"]]
    assert [(e["src"], e["unresolved"]) for e in incoming] == [
        ("request:frontend-100:conn_1:7", False)
    ]
    assert incoming[0]["other"]["proc_key"] == "frontend-100"
    assert incoming[0]["missing_side"] is None


def test_the_request_side_sees_the_cross_process_edge_too(client, rpc_pair):
    body = detail(client, "live", "request:frontend-100:conn_1:7")
    assert [(e["dst"], e["cross_process"], e["unresolved"]) for e in body["needs"]] == [
        ("response:backend-200:conn_1:7", True, False)
    ]
    assert body["needs"][0]["other"]["kind"] == "response"


def test_a_cross_process_edge_without_its_other_end_is_flagged_unresolved(client, rpc_pair):
    front, back = rpc_pair
    body = detail(client, back.snapshot_id, "response:backend-200:conn_1:7")
    (edge,) = [e for e in body["needed_by"] if e["cross_process"]]
    assert edge["unresolved"] is True
    assert edge["other"] is None
    assert edge["missing_side"] == "src"
    assert edge["referenced_proc_key"] == "frontend-100"
    assert "frontend-100" in edge["reason"]


def test_it_aggregates_wake_sources_per_waker(client):
    sid = load("channel_full_stall").snapshot_id
    body = detail(client, sid, "task:channel-full-stall-3111:2")
    assert body["wake_event_total"] == 16
    consumer, outside = body["wake_sources"]  # most recent waker first
    assert consumer["waker"] == "task:channel-full-stall-3111:3"
    assert consumer["waker_node"]["label"] == "consumer"
    assert (consumer["count"], consumer["last_at_ns"]) == (8, 1763771980250000000)
    assert consumer["target_workers"] == [1]
    assert outside["waker"] is None
    assert outside["waker_node"] is None
    assert (outside["count"], outside["last_at_ns"]) == (8, 1763771980240000001)
    assert outside["target_workers"] == [0]


def test_it_lists_target_workers_sorted_and_distinct(client):
    doc = read_example("mutex_lock_order_inversion")
    doc["wake_events"] = [
        {"at_ns": 10 + i, "waker_task_id": 1, "woken_task_id": 11, "target_worker": w}
        for i, w in enumerate([3, 1, None, 3, 0])
    ]
    sid = ingest_document(doc).snapshot_id
    (source,) = detail(client, sid, "task:lock-demo-4242:11")["wake_sources"]
    assert source["target_workers"] == [0, 1, 3]
    assert source["count"] == 5


def test_it_shows_the_recent_wake_events_in_time_order(client):
    sid = load("channel_full_stall").snapshot_id
    events = detail(client, sid, "task:channel-full-stall-3111:2")["wake_events"]
    assert len(events) == 16
    assert [e["at_ns"] for e in events] == sorted(e["at_ns"] for e in events)
    assert events[0] == {
        "at_ns": 1763771980100000000,
        "waker": None,
        "waker_node": None,
        "target_worker": 0,
    }


def test_it_keeps_only_the_newest_wake_events_but_counts_them_all(client, monkeypatch):
    monkeypatch.setattr(queries, "WAKE_EVENT_CAP", 5)
    sid = load("channel_full_stall").snapshot_id
    body = detail(client, sid, "task:channel-full-stall-3111:2")
    assert [e["at_ns"] for e in body["wake_events"]][-1] == 1763771980250000000
    assert len(body["wake_events"]) == 5
    assert body["wake_event_total"] == 16


def test_it_lists_pending_traces_newest_first_with_frames_as_text(client):
    doc = read_example("rpc_backend")
    doc["frames"]["3"] = "backend::retry::{{closure}}\n    at src/retry.rs:9:1"
    doc["pending_traces"].append(
        {"task_id": 9, "at_ns": 1763771999900000000, "duration_us": 11900000, "frame_ids": [3, 2]}
    )
    sid = ingest_document(doc).snapshot_id
    body = detail(client, sid, "task:backend-200:9")
    assert body["pending_trace_total"] == 2
    newest, older = body["pending_traces"]
    assert newest == {
        "task_id": 9,
        # As of the capture (captured_at_ns 1763772000000000000): the wait
        # began 11.9 s before the trace's at_ns, 12 s before the capture.
        "at_ns": 1763772000000000000,
        "duration_us": 12000000,
        "frames": [
            {"id": 3, "text": "backend::retry::{{closure}}\n    at src/retry.rs:9:1"},
            {"id": 2, "text": "backend::fetch_handler::{{closure}}\n    at src/handlers.rs:54:18"},
        ],
    }
    assert [f["text"].split("\n")[0] for f in older["frames"]] == [
        "roam::Caller::call::{{closure}}",
        "backend::fetch_handler::{{closure}}",
    ]


def test_frames_resolve_within_their_own_process_in_the_live_view(client, rpc_pair):
    # Both processes use frame ids 1 and 2 for different texts.
    front = detail(client, "live", "task:frontend-100:6")["pending_traces"][0]["frames"]
    back = detail(client, "live", "task:backend-200:9")["pending_traces"][0]["frames"]
    assert front[0]["text"].startswith("tokio::sync::Mutex")
    assert back[0]["text"].startswith("roam::Caller::call")


@pytest.mark.parametrize(
    "rest", ["src/main.rs:10 <a b>?#", "../up", "a/../../b", "./", "50%", "q?x=1#frag"]
)
def test_a_node_id_with_slashes_and_odd_characters_is_found(client, rest):
    weird = node("future", "p-1", rest, "read_file")
    t = task("p-1", 1, "reader")
    sid = push("p-1", [t, weird], [needs(t, weird)]).snapshot_id
    # Fully percent-encoded, as a client must send it (dots too, or clients
    # resolve "../" away before sending).
    encoded = quote(weird["id"], safe="").replace(".", "%2E")
    body = detail(client, sid, encoded)
    assert body["node"]["node_id"] == weird["id"]
    assert body["needed_by"][0]["other_id"] == "task:p-1:1"


def test_the_edge_lists_are_capped_but_the_totals_are_not(client, monkeypatch):
    monkeypatch.setattr(queries, "EDGE_LIST_CAP", 3)
    lock = node("lock", "p-1", "big", "big")
    tasks = [task("p-1", i, f"w{i}") for i in range(1, 8)]
    sid = push(
        "p-1",
        [lock, *tasks],
        [{"src_id": t["id"], "dst_id": lock["id"], "kind": "needs"} for t in tasks],
    ).snapshot_id
    body = detail(client, sid, "lock:p-1:big")
    assert len(body["needed_by"]) == 3
    assert body["needed_by_total"] == 7


def test_node_detail_returns_the_node_with_its_process_attached(db):
    sid = load("rpc_backend").snapshot_id
    d = queries.node_detail(resolve_scope(sid), "task:backend-200:9")
    assert d.node.process.proc_key == "backend-200"
    assert d.node.age_ns == 12_000_000_000
