"""Bodies are split into undecoded elements and decoded one element at a
time (snapshots/ingest/body.py); errors still name the element."""

import orjson
import pytest

from snapshots.ingest import IngestError, ingest_document
from snapshots.ingest.body import decode_json
from snapshots.models import Node

from .conftest import assert_nothing_stored, small_doc

pytestmark = pytest.mark.django_db


def test_a_decoded_body_ingests_like_the_same_dict():
    proc = ingest_document(decode_json(orjson.dumps(small_doc())))
    assert (proc.node_count, proc.edge_count, proc.wake_count, proc.trace_count) == (3, 2, 1, 1)
    assert Node.objects.get(node_id="task:svc-1:7").attrs["state"] == "pending"


def test_invalid_utf8_inside_one_node_is_a_400_naming_that_node(post):
    body = orjson.dumps(small_doc()).replace(b'"acceptor"', b'"acc\xffptor"')
    response = post(body)
    assert response.status_code == 400
    assert response.json()["path"] == "nodes[1]"
    assert "not valid JSON" in response.json()["error"]
    assert_nothing_stored()


def test_malformed_json_anywhere_is_a_400_for_the_body(post):
    body = orjson.dumps(small_doc()).replace(b'"kind":"lock"', b'"kind":lock')
    response = post(body)
    assert response.status_code == 400
    assert response.json()["path"] == ""


def test_nodes_that_are_not_a_list_are_a_400_naming_nodes(post):
    response = post(small_doc(nodes={"id": "task:svc-1:1"}))
    assert response.status_code == 400
    assert response.json() == {"error": "nodes must be a list", "path": "nodes"}


def test_a_process_dump_body_is_split_the_same_way(post, example_document):
    response = post(example_document("peeps_processdump"))
    assert response.status_code == 201
    assert (response.json()["nodes"], response.json()["edges"]) == (2, 1)


def test_fields_ingest_does_not_use_are_dropped_undecoded():
    doc = decode_json(b'{"process": "svc", "proc_key": "svc-1", "threads": ["\xff"]}')
    assert doc == {"process": "svc", "proc_key": "svc-1"}


def test_ingest_takes_a_decoded_body_over_so_the_body_can_be_freed():
    doc = decode_json(orjson.dumps(small_doc()))
    ingest_document(doc)
    assert doc == {}


def test_ingest_leaves_a_plain_dict_alone():
    doc = small_doc()
    ingest_document(doc)
    assert doc == small_doc()


def test_an_error_from_a_decoded_body_still_records_its_proc_key():
    from snapshots.models import IngestEvent

    doc = small_doc()
    doc["nodes"][0]["kind"] = "Bad"
    with pytest.raises(IngestError):
        ingest_document(decode_json(orjson.dumps(doc)))
    assert IngestEvent.objects.get().proc_key == "svc-1"


def test_the_201_says_where_the_time_went(post):
    response = post(small_doc())
    names = [part.split(";")[0].strip() for part in response["Server-Timing"].split(",")]
    assert names == [
        "read",
        "decode",
        "ingest",
        "validate",
        "head",
        "edges",
        "nodes",
        "other_rows",
        "commit",
        "announce",
    ]
