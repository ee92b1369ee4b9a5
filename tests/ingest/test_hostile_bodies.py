"""Hostile bodies get the contract's JSON errors, never a 500: nesting at any
depth, bytes that are not UTF-8 (issue 16, items 1 and 11). Nothing is stored."""

import io
import socket
import threading

import orjson
import pytest
from django.core.management import CommandError, call_command

from snapshots.ingest import tcp
from snapshots.ingest.body import MAX_NESTING
from snapshots.models import IngestEvent

from .conftest import assert_nothing_stored, small_doc

pytestmark = pytest.mark.django_db

HOLE = b'"@@hole@@"'


def with_hole(where):
    """A valid body with HOLE as the value of `where`."""
    doc = small_doc()
    if where == "nodes[0].attrs":
        doc["nodes"][0]["attrs"] = "@@hole@@"
    elif where == "nodes[0].label":
        doc["nodes"][0]["label"] = "@@hole@@"
    elif where == "edges[1].attrs":
        doc["edges"][1]["attrs"] = "@@hole@@"
    elif where == "graph.nodes[0].attrs":
        doc = {"process_name": "svc", "pid": 1, "graph": {"nodes": [{"attrs": "@@hole@@"}]}}
    else:  # a top-level field
        doc[where] = "@@hole@@"
    return orjson.dumps(doc)


def nested(levels, where):
    """The body with `levels` nested lists at `where`."""
    return with_hole(where).replace(HOLE, b"[" * levels + b"]" * levels)


def assert_refused(response, status, path):
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    assert response.json()["path"] == path
    assert_nothing_stored()
    assert IngestEvent.objects.get().kind == IngestEvent.DECODE_ERROR


@pytest.mark.parametrize("levels", [5_000, 100_000, 1_000_000])
@pytest.mark.parametrize("where", ["nodes[0].attrs", "nodes[0].label"])
def test_nesting_at_any_depth_is_a_400_naming_the_field(post, levels, where):
    response = post(nested(levels, where))
    assert_refused(response, 400, where)
    assert response.json()["error"] == f"not valid JSON: nested deeper than {MAX_NESTING} levels"


@pytest.mark.parametrize(
    "where", ["process", "frames", "threads", "edges[1].attrs", "graph.nodes[0].attrs"]
)
def test_deep_nesting_anywhere_in_the_body_names_where(post, where):
    assert_refused(post(nested(5_000, where)), 400, where)


def test_deep_nesting_in_a_gzip_body_is_a_400_too(post):
    assert_refused(post(nested(100_000, "nodes[0].attrs"), gzipped=True), 400, "nodes[0].attrs")


def test_nesting_just_past_the_decoders_limits_is_still_a_400(post):
    # 1,000 to ~1,500 levels pass the split and are refused element by element
    # (orjson's own limit): each depth is a 400 naming where, whoever finds it.
    for levels in (1_000, 1_100, 1_500, 2_000):
        response = post(nested(levels, "nodes[0].attrs"))
        assert response.status_code == 400
        assert response.json()["path"] in ("nodes[0]", "nodes[0].attrs")
    assert_nothing_stored()


def test_a_body_starting_with_byte_0xff_is_a_400_naming_offset_0(post):
    response = post(b"\xff" + orjson.dumps(small_doc()))
    assert_refused(response, 400, "")
    assert "byte 0" in response.json()["error"]


@pytest.mark.parametrize("key", [b'"process"', b'"threads"', b'"frames"'])
def test_a_top_level_key_that_is_not_utf8_is_a_400_naming_its_byte_offset(post, key):
    body = with_hole("threads").replace(key, key[:-1] + b'\xe1A"')
    offset = body.index(b"\xe1A")
    response = post(body)
    assert_refused(response, 400, "")
    assert response.json()["error"] == f"the body is not UTF-8 at byte offset {offset} (0xe1)"


def test_a_graph_key_that_is_not_utf8_is_a_400_naming_graph_and_the_offset(post):
    body = with_hole("graph.nodes[0].attrs").replace(HOLE, b"{}").replace(b'"nodes"', b'"\xe1A"')
    offset = body.index(b"\xe1A")
    response = post(body)
    assert_refused(response, 400, "graph")
    assert response.json()["error"] == f"the body is not UTF-8 at byte offset {offset} (0xe1)"


@pytest.mark.parametrize("where", ["process", "nodes[0].label", "edges[1].attrs"])
def test_a_value_that_is_not_utf8_is_a_400_naming_its_field(post, where):
    response = post(with_hole(where).replace(HOLE, b'"x\xe1Ay"'))
    assert response.status_code == 400
    # The element is named: it is decoded whole, when validation reaches it.
    assert response.json()["path"] == where.split(".")[0]
    assert_nothing_stored()


def ingest_command(tmp_path, body):
    path = tmp_path / "body.json"
    path.write_bytes(body)
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 of 1 files were refused"):
        call_command("ingest", str(path), stdout=io.StringIO(), stderr=err)
    return err.getvalue()


def test_the_ingest_command_gives_the_same_errors(tmp_path):
    err = ingest_command(tmp_path, nested(1_000_000, "nodes[0].attrs"))
    assert f"400 not valid JSON: nested deeper than {MAX_NESTING} levels at nodes[0].attrs" in err
    body = orjson.dumps(small_doc()).replace(b'"process"', b'"pro\xe1A"')
    err = ingest_command(tmp_path, body)
    offset = body.index(b"\xe1A")
    assert f"400 the body is not UTF-8 at byte offset {offset} (0xe1)" in err
    assert_nothing_stored()


NOT_UTF8_KEY = orjson.dumps(small_doc()).replace(b'"pid"', b'"\xe1A"')


@pytest.mark.parametrize(
    "payload, detail",
    [
        (
            nested(1_000_000, "nodes[0].attrs"),
            f"not valid JSON: nested deeper than {MAX_NESTING} levels at nodes[0].attrs",
        ),
        (
            NOT_UTF8_KEY,
            f"the body is not UTF-8 at byte offset {NOT_UTF8_KEY.index(b'\xe1A')} (0xe1)",
        ),
    ],
    ids=["deep", "not-utf8"],
)
def test_the_tcp_listener_refuses_the_same_bodies_with_the_same_messages(payload, detail):
    server_end, client_end = socket.socketpair()

    def send():
        client_end.sendall(len(payload).to_bytes(4, "big") + payload)
        client_end.shutdown(socket.SHUT_WR)

    sender = threading.Thread(target=send)
    sender.start()
    stats = tcp.serve_connection(server_end, "test-peer")
    sender.join()
    client_end.close()
    assert (stats.frames, stats.stored) == (1, 0)
    (event,) = IngestEvent.objects.all()
    assert (event.kind, event.status) == (IngestEvent.DECODE_ERROR, 400)
    # The HTTP body's words (snapshots.ingest.body.decode_json), not a frame's own.
    assert event.detail == f"{detail} (from test-peer)"
    assert_nothing_stored()
