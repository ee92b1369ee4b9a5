"""The client's validator and the server's must agree on every body: same
accept/reject, same status, same path, same message (and, for accepted
bodies, the same nodes, edges, unresolved edges, wakes and traces).

Both run the one set of rules in peepsweb_client.contract; what differs is the JSON
library behind them (orjson on the server, `json` on the client: attrs_json
parsing, the stored attrs text and its limits, values quoted in messages)
and what each keeps. The server's side is snapshots.ingest.validate
(parse_document, then iter_edges as the store does), the client's
peepsweb_client.validate. A hand-written corpus covers each rule;
hypothesis then mutates the example snapshots at random paths.
"""

import copy
import json
import subprocess
import sys

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from peepsweb_client import SnapshotBuilder
from peepsweb_client import validate as client

from snapshots.ingest import validate as server
from snapshots.ingest.errors import IngestError
from tests.support.examples import example_names, read_example
from tests.support.processes import REPO_ROOT

SMALL_LIMITS = dict(
    body_bytes=10_000, nodes=5, edges=6, string_bytes=200, attrs_bytes=300, attrs_depth=4
)


class ServerCrash(Exception):
    pass


def server_verdict(doc, limits):
    try:
        parsed = server.parse_document(copy.deepcopy(doc), server.Limits(**limits))
        edges = list(parsed.iter_edges())
    except IngestError as exc:
        return ("error", exc.status, exc.path, exc.message)
    except Exception as exc:  # a 500 on hostile input: a server bug, never parity
        raise ServerCrash(repr(exc)) from exc
    local = sorted((row[0], row[1], json.loads(row[2])) for kind, row in edges if kind == "local")
    unresolved = sorted(
        (row[0], row[1], json.loads(row[2]), row[3], row[4], row[5])
        for kind, row in edges
        if kind != "local"
    )
    return (
        "ok",
        parsed.process,
        parsed.pid,
        parsed.proc_key,
        parsed.captured_at_ns,
        parsed.snapshot_id,
        [(r[0], r[1], r[2], json.loads(r[3])) for r in parsed.nodes],
        local,
        unresolved,
        [tuple(w) for w in parsed.wakes],
        sorted(parsed.frames),
        [(t[0], t[1], t[2], json.loads(t[3])) for t in parsed.traces],
    )


def client_verdict(doc, limits):
    try:
        out = client.check_document(copy.deepcopy(doc), client.Limits(**limits))
    except client.ValidationError as exc:
        return ("error", exc.status, exc.path, exc.message)
    return (
        "ok",
        out.process,
        out.pid,
        out.proc_key,
        out.captured_at_ns,
        out.snapshot_id,
        [(n["id"], n["kind"], n["label"], n["attrs"]) for n in out.nodes],
        sorted((e["src"], e["dst"], e["attrs"]) for e in out.edges),
        sorted(
            (
                u["src"],
                u["dst"],
                u["attrs"],
                u["missing_side"],
                u["referenced_proc_key"],
                u["reason"],
            )
            for u in out.unresolved_edges
        ),
        [(w["at_ns"], w["waker"], w["woken"], w["target_worker"]) for w in out.wake_events],
        sorted(out.frames.items()),
        [(t["node_id"], t["task_id"], t["since_ns"], t["frame_ids"]) for t in out.pending_traces],
    )


def comparable(verdict):
    # Both sides quote their JSON parser's own words after this prefix.
    if verdict[0] == "error" and verdict[3].startswith("attrs_json is not valid JSON:"):
        return verdict[:3] + ("attrs_json is not valid JSON:",)
    return verdict


def assert_same(doc, limits=None):
    limits = limits or dict(
        body_bytes=64 * 1024 * 1024,
        nodes=1_000_000,
        edges=2_000_000,
        string_bytes=64 * 1024,
        attrs_bytes=64 * 1024,
        attrs_depth=16,
    )
    expected = comparable(server_verdict(doc, limits))
    got = comparable(client_verdict(doc, limits))
    assert got == expected
    return got


def base():
    return {
        "process": "svc",
        "pid": 1,
        "proc_key": "svc-1",
        "captured_at_ns": 10,
        "nodes": [
            {"id": "task:svc-1:1", "kind": "task", "attrs": {"task_id": 1, "state": "pending"}},
            {"id": "lock:svc-1:l", "kind": "lock", "label": "l"},
        ],
        "edges": [{"src_id": "task:svc-1:1", "dst_id": "lock:svc-1:l", "kind": "needs"}],
        "wake_events": [{"at_ns": 5, "waker_task_id": None, "woken_task_id": 1}],
        "frames": {"1": "f\n    at a.py:1"},
        "pending_traces": [{"task_id": 1, "at_ns": 6, "duration_us": 3, "frame_ids": [1]}],
    }


def edit(fn):
    doc = base()
    fn(doc)
    return doc


def node(i):
    return lambda d: d["nodes"][i]


CORPUS = {
    "base": base(),
    "not an object": [1, 2],
    "a string body": "hello",
    "no process": edit(lambda d: d.pop("process")),
    "empty process": edit(lambda d: d.update(process="")),
    "long process": edit(lambda d: d.update(process="p" * 129)),
    "process with NUL": edit(lambda d: d.update(process="a\x00b")),
    "pid as string": edit(lambda d: d.update(pid="1")),
    "pid as bool": edit(lambda d: d.update(pid=True)),
    "pid too big": edit(lambda d: d.update(pid=2**63)),
    "no proc_key": edit(lambda d: d.pop("proc_key")),
    "proc_key with colon": edit(lambda d: d.update(proc_key="a:b")),
    "proc_key upper": edit(lambda d: d.update(proc_key="Svc-1")),
    "negative captured": edit(lambda d: d.update(captured_at_ns=-1)),
    "float captured": edit(lambda d: d.update(captured_at_ns=1.5)),
    "zero snapshot_id": edit(lambda d: d.update(snapshot_id=0)),
    "string snapshot_id": edit(lambda d: d.update(snapshot_id="3")),
    "nodes not a list": edit(lambda d: d.update(nodes={})),
    "edges not a list": edit(lambda d: d.update(edges="x")),
    "node not an object": edit(lambda d: d["nodes"].append(3)),
    "node without id": edit(lambda d: d["nodes"][0].pop("id")),
    "node id empty": edit(lambda d: d["nodes"][0].update(id="")),
    "node id too long": edit(lambda d: d["nodes"][0].update(id="task:svc-1:" + "x" * 1100)),
    "node id with NUL": edit(lambda d: d["nodes"][0].update(id="task:svc-1:\x00")),
    "node id of another process": edit(lambda d: d["nodes"][0].update(id="task:other-1:1")),
    "node id without rest": edit(lambda d: d["nodes"][0].update(id="task:svc-1:")),
    "node id two segments": edit(lambda d: d["nodes"][0].update(id="task:svc-1")),
    "duplicate node id": edit(lambda d: d["nodes"].append(dict(d["nodes"][0]))),
    "kind missing": edit(lambda d: d["nodes"][0].pop("kind")),
    "kind upper": edit(lambda d: d["nodes"][0].update(kind="Task")),
    "kind too long": edit(lambda d: d["nodes"][0].update(kind="k" * 65)),
    "attrs not an object": edit(lambda d: d["nodes"][0].update(attrs=[1])),
    "attrs and attrs_json": edit(lambda d: d["nodes"][0].update(attrs_json="{}")),
    "attrs_json not a string": edit(
        lambda d: d["nodes"][1].update(attrs_json={"a": 1}),
    ),
    "attrs_json invalid": edit(lambda d: d["nodes"][1].update(attrs_json="{nope")),
    "attrs_json an array": edit(lambda d: d["nodes"][1].update(attrs_json="[1]")),
    "attrs_json ok": edit(lambda d: d["nodes"][1].update(attrs_json='{"name": "x", "n": 2}')),
    "attrs_json NaN": edit(lambda d: d["nodes"][1].update(attrs_json='{"a": NaN}')),
    "attrs_json huge int": edit(
        lambda d: d["nodes"][1].update(attrs_json='{"a": 1' + "0" * 30 + "}")
    ),
    "attrs with NUL": edit(lambda d: d["nodes"][1].update(attrs={"a": "x\x00"})),
    "attrs with huge int": edit(lambda d: d["nodes"][1].update(attrs={"a": 2**70})),
    "attrs too deep": edit(
        lambda d: d["nodes"][1].update(attrs={"a": [[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]})
    ),
    "attrs at max depth": edit(
        lambda d: d["nodes"][1].update(attrs={"a": [[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]})
    ),
    "attrs too large": edit(lambda d: d["nodes"][1].update(attrs={"a": "x" * 70000})),
    "unknown node fields kept": edit(
        lambda d: d["nodes"][1].update(source_file="a.rs", source_line=3, label=None)
    ),
    "unknown field does not override": edit(
        lambda d: d["nodes"][0].update(state="running", task_id=99)
    ),
    "label not a string": edit(lambda d: d["nodes"][1].update(label=3)),
    "label too long": edit(lambda d: d["nodes"][1].update(label="é" * 40000)),
    "label with NUL": edit(lambda d: d["nodes"][1].update(label="\x00")),
    "label from name": edit(lambda d: d["nodes"][1].update(label=None, attrs={"name": "nm"})),
    "label from method": edit(lambda d: d["nodes"][1].update(label=None, attrs={"method": "M"})),
    "frames not an object": edit(lambda d: d.update(frames=["a"])),
    "frame key not int": edit(lambda d: d["frames"].update(x="t")),
    "frame key too big": edit(lambda d: d["frames"].update({str(2**64): "t"})),
    "frame key twice": edit(lambda d: d["frames"].update({"01": "t"})),
    "frame key with spaces": edit(lambda d: d["frames"].update({" 2": "t"})),
    "frame text not string": edit(lambda d: d["frames"].update({"2": 5})),
    "frame text too long": edit(lambda d: d["frames"].update({"2": "x" * 70000})),
    "traces not a list": edit(lambda d: d.update(pending_traces={})),
    "trace not an object": edit(lambda d: d["pending_traces"].append("x")),
    "trace without task_id": edit(lambda d: d["pending_traces"][0].pop("task_id")),
    "trace without at_ns": edit(lambda d: d["pending_traces"][0].pop("at_ns")),
    "trace negative at_ns": edit(lambda d: d["pending_traces"][0].update(at_ns=-5)),
    "trace duration string": edit(lambda d: d["pending_traces"][0].update(duration_us="3")),
    "trace frame_ids not list": edit(lambda d: d["pending_traces"][0].update(frame_ids=1)),
    "trace unknown frame id": edit(lambda d: d["pending_traces"][0].update(frame_ids=[1, 7])),
    "trace frame id string": edit(lambda d: d["pending_traces"][0].update(frame_ids=["1"])),
    "trace for unknown task": edit(lambda d: d["pending_traces"][0].update(task_id=42)),
    "wakes not a list": edit(lambda d: d.update(wake_events=3)),
    "wake not an object": edit(lambda d: d["wake_events"].append(None)),
    "wake without woken": edit(lambda d: d["wake_events"][0].pop("woken_task_id")),
    "wake waker string": edit(lambda d: d["wake_events"][0].update(waker_task_id="3")),
    "wake with worker": edit(
        lambda d: d["wake_events"][0].update(target_worker=2, waker_task_id=1)
    ),
    "edge not an object": edit(lambda d: d["edges"].append([])),
    "edge without src": edit(lambda d: d["edges"][0].pop("src_id")),
    "edge dst empty": edit(lambda d: d["edges"][0].update(dst_id="")),
    "edge dst too long": edit(lambda d: d["edges"][0].update(dst_id="x" * 1025)),
    "edge kind wrong": edit(lambda d: d["edges"][0].update(kind="wakes")),
    "edge kind missing": edit(lambda d: d["edges"][0].pop("kind")),
    "edge attrs_json": edit(lambda d: d["edges"][0].update(attrs_json='{"w": 1}')),
    "edge attrs bad": edit(lambda d: d["edges"][0].update(attrs="x")),
    "edge duplicate": edit(lambda d: d["edges"].append(dict(d["edges"][0], attrs={"b": 1}))),
    "edge to own missing node": edit(lambda d: d["edges"][0].update(dst_id="lock:svc-1:nope")),
    "edge src own missing": edit(lambda d: d["edges"][0].update(src_id="task:svc-1:9")),
    "edge to other process": edit(lambda d: d["edges"][0].update(dst_id="lock:other-2:x")),
    "edge between two others": edit(
        lambda d: d["edges"][0].update(src_id="task:a-1:1", dst_id="task:b-2:1")
    ),
    "edge to unparseable id": edit(lambda d: d["edges"][0].update(dst_id="nonsense")),
    "edge to bad proc_key": edit(lambda d: d["edges"][0].update(dst_id="task:Bad Key:1")),
    "edge unresolved twice": edit(
        lambda d: d["edges"].extend(
            [{"src_id": "task:svc-1:1", "dst_id": "x:o-1:1", "kind": "needs"}] * 2
        )
    ),
    "bad frame and bad edge: frame first": edit(
        lambda d: (d["frames"].update(x="t"), d["edges"][0].update(kind="no"))
    ),
    "processdump": {
        "process_name": "My Service!",
        "pid": 7,
        "timestamp": "2025-11-22T00:40:00.5Z",
        "graph": {
            "nodes": [
                {
                    "id": "task:my-service-7:1",
                    "kind": "task",
                    "process": "My Service!",
                    "attrs_json": '{"task_id": 1, "state": "pending"}',
                }
            ],
            "edges": [
                {
                    "id": "e1",
                    "src_id": "task:my-service-7:1",
                    "dst_id": "task:other-2:1",
                    "kind": "needs",
                    "attrs_json": "{}",
                }
            ],
        },
    },
    "processdump bad graph": {"process_name": "x", "graph": []},
    "processdump empty name": {"process_name": "", "graph": {}},
    "processdump bad node": {"process_name": "x", "pid": 1, "graph": {"nodes": [{"id": 1}]}},
    "processdump pid string": {"process_name": "x", "pid": "1", "graph": {}},
    "processdump with nodes key is canonical": {"process_name": "x", "graph": {}, "nodes": []},
}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_the_client_and_server_agree_on_the_corpus(name):
    assert_same(CORPUS[name])


@pytest.mark.parametrize("name", example_names())
def test_the_client_and_server_accept_the_example_snapshots(name):
    assert assert_same(read_example(name))[0] == "ok"


LIMIT_CASES = {
    "too many nodes": edit(
        lambda d: d["nodes"].extend({"id": f"n:svc-1:{i}", "kind": "n"} for i in range(5))
    ),
    "too many edges": edit(lambda d: d["edges"].extend([d["edges"][0]] * 6)),
    "string over limit": edit(lambda d: d["nodes"][1].update(label="x" * 201)),
    "string at limit": edit(lambda d: d["nodes"][1].update(label="x" * 200)),
    "multibyte string over limit": edit(lambda d: d["nodes"][1].update(label="é" * 101)),
    "attrs over limit": edit(lambda d: d["nodes"][1].update(attrs={"a": "y" * 300})),
    "attrs deeper than 4": edit(lambda d: d["nodes"][1].update(attrs={"a": {"b": {"c": [1]}}})),
    "attrs depth 4 by many brackets": edit(
        lambda d: d["nodes"][1].update(attrs={"a": [[1], [2], [3]], "b": {}})
    ),
    "frame over limit": edit(lambda d: d["frames"].update({"3": "z" * 201})),
}


@pytest.mark.parametrize("name", sorted(LIMIT_CASES))
def test_the_client_and_server_apply_the_same_limits(name):
    assert_same(LIMIT_CASES[name], SMALL_LIMITS)


def test_the_builder_output_is_accepted_by_both():
    b = SnapshotBuilder("billing api", pid=12)
    t = b.task(7, "conn", state="pending", spawned_at_ns=5, parent_task_id=1)
    b.task(1, "main", state="running")
    lock = b.node("lock", "db", "db", lock_kind="mutex")
    b.needs(t, lock, op="acquire")
    b.needs(lock, b.task_node_id(1))
    b.needs(t, "request:other-9:c:1")
    b.wake(7, 1, at_ns=3, target_worker=1)
    b.pending_trace(7, [("f", "a.py", 1), "g\n    at b.py:2", ("f", "a.py", 1)], duration_us=5)
    doc = b.build()
    verdict = assert_same(doc)
    assert verdict[0] == "ok"
    assert doc["proc_key"] == "billing-api-12"
    assert doc["frames"] == {"1": "f\n    at a.py:1", "2": "g\n    at b.py:2"}
    assert doc["pending_traces"][0]["frame_ids"] == [1, 2, 1]


def test_the_builder_refuses_a_body_the_server_would_refuse():
    b = SnapshotBuilder("svc", pid=1)
    t = b.task(1, "a")
    b.needs(t, b.node_id("lock", "never-added"))
    with pytest.raises(client.ValidationError) as caught:
        b.build()
    assert caught.value.path == "edges[0].dst_id"
    assert "is not among its nodes" in caught.value.message


def test_the_client_refuses_nan_that_json_cannot_carry():
    # The server would store NaN as null from a dict, but a NaN can never
    # reach it over HTTP: it is not JSON. The client says so before sending.
    doc = edit(lambda d: d["nodes"][1].update(attrs={"ratio": float("nan")}))
    with pytest.raises(client.ValidationError) as caught:
        client.check_document(doc)
    assert (caught.value.status, caught.value.path) == (400, "nodes[1].attrs")


# -- random mutations of real bodies ------------------------------------------------

ODD_VALUES = st.sampled_from(
    [
        None,
        "",
        "x",
        "task:svc-1:1",
        "task:other-2:1",
        "a\x00b",
        0,
        -1,
        7,
        2**63,
        1.5,
        True,
        [],
        {},
        [1],
        {"a": 1},
        "needs",
        "{}",
        "{bad",
        "é" * 3,
    ]
)


def paths_of(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from paths_of(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from paths_of(v, prefix + (i,))


@st.composite
def mutated_documents(draw):
    doc = read_example(draw(st.sampled_from(example_names())))
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in paths_of(doc) if p]
        path = draw(st.sampled_from(paths))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["replace", "delete", "duplicate"]))
        if action == "delete":
            if isinstance(parent, dict):
                parent.pop(path[-1])
            else:
                parent.pop(path[-1])
        elif action == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[path[-1]]))
        else:
            parent[path[-1]] = copy.deepcopy(draw(ODD_VALUES))  # never share a mutable
    return doc


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_documents())
def test_the_client_and_server_agree_on_random_mutations(doc):
    # Through JSON and back as the server would see it over HTTP.
    doc = orjson.loads(json.dumps(doc))
    assert_same(doc)


def test_a_node_kind_that_is_an_array_is_a_400_on_both_sides():
    # Found by the random mutations: the server once raised TypeError (a 500).
    doc = edit(lambda d: d["nodes"][0].update(kind=["task"]))
    assert assert_same(doc)[:3] == ("error", 400, "nodes[0].kind")


def test_the_shared_rules_and_the_client_validator_need_only_the_standard_library():
    # -S: no site-packages at all, so importing Django or orjson would fail.
    code = (
        "import sys; sys.path.insert(0, 'client/src');"
        "from peepsweb_client.validate import check_document;"
        "check_document({'process': 'p', 'proc_key': 'p-1', 'nodes': []})"
    )
    run = subprocess.run(
        [sys.executable, "-S", "-c", code], cwd=REPO_ROOT, capture_output=True, timeout=60
    )
    assert run.returncode == 0, run.stderr.decode()
