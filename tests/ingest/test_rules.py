"""Every rule of SNAPSHOT_FORMAT.md's ingest section, through ingest_document.

Each rejection names the offending field and leaves no row behind."""

import pytest

from snapshots.ingest import IngestError, ingest_document
from snapshots.models import Node

from .conftest import assert_nothing_stored, small_doc

pytestmark = pytest.mark.django_db


def rejects(doc, status, path, message=None):
    with pytest.raises(IngestError) as caught:
        ingest_document(doc)
    assert (caught.value.status, caught.value.path) == (status, path), caught.value
    if message is not None:
        assert message in caught.value.message
    assert_nothing_stored()
    return caught.value


def without(doc, key):
    doc.pop(key)
    return doc


def test_it_requires_process():
    rejects(without(small_doc(), "process"), 400, "process")


@pytest.mark.parametrize("process", ["", "x" * 129, 12])
def test_it_requires_process_to_be_1_to_128_characters(process):
    rejects(small_doc(process=process), 400, "process")


def test_it_accepts_a_128_character_process():
    assert ingest_document(small_doc(process="p" * 128)).process == "p" * 128


def test_pid_is_optional():
    assert ingest_document(without(small_doc(), "pid")).pid is None


def test_pid_must_be_an_integer():
    rejects(small_doc(pid="51859"), 400, "pid")


def test_it_requires_proc_key():
    rejects(without(small_doc(), "proc_key"), 400, "proc_key")


@pytest.mark.parametrize("proc_key", ["Svc-1", "svc:1", "svc 1", "", "k" * 65, "svc/1"])
def test_it_rejects_a_proc_key_outside_the_allowed_alphabet(proc_key):
    rejects(small_doc(proc_key="svc-1") | {"proc_key": proc_key}, 400, "proc_key")


def test_proc_key_may_use_dots_underscores_and_dashes():
    assert ingest_document(small_doc(proc_key="a.b_c-9")).proc_key == "a.b_c-9"


def test_captured_at_ns_defaults_to_the_receive_time():
    proc = ingest_document(without(small_doc(), "captured_at_ns"))
    received_ns = proc.received_at.timestamp() * 1e9
    assert abs(proc.captured_at_ns - received_ns) < 1e6
    assert proc.snapshot.captured_at_ns == proc.captured_at_ns


def test_captured_at_ns_must_be_an_integer():
    rejects(small_doc(captured_at_ns=1.5), 400, "captured_at_ns")


def test_snapshot_id_must_be_an_integer_or_null():
    rejects(small_doc(snapshot_id="17"), 400, "snapshot_id")


def test_a_missing_node_id_is_a_400():
    doc = small_doc()
    del doc["nodes"][2]["id"]
    rejects(doc, 400, "nodes[2].id")


def test_a_duplicate_node_id_is_a_400():
    doc = small_doc()
    doc["nodes"].append(dict(doc["nodes"][0]))
    error = rejects(doc, 400, "nodes[3].id")
    assert "first at nodes[0]" in error.message


def test_a_node_id_must_carry_this_process_proc_key_as_its_second_segment():
    doc = small_doc()
    doc["nodes"][1]["id"] = "task:other-2:3"
    rejects(doc, 400, "nodes[1].id", "{kind}:svc-1:{rest}")


@pytest.mark.parametrize("node_id", ["task", "task:svc-1", "task:svc-1:", ":svc-1:3"])
def test_a_node_id_must_have_three_segments(node_id):
    doc = small_doc()
    doc["nodes"][1]["id"] = node_id
    rejects(doc, 400, "nodes[1].id")


def test_a_node_id_may_contain_more_colons_in_its_rest():
    doc = small_doc()
    doc["nodes"].append({"id": "oneshot:svc-1:start_gate:rx", "kind": "oneshot_rx"})
    ingest_document(doc)
    assert Node.objects.filter(node_id="oneshot:svc-1:start_gate:rx").exists()


def test_a_missing_node_kind_is_a_400():
    doc = small_doc()
    del doc["nodes"][0]["kind"]
    rejects(doc, 400, "nodes[0].kind")


@pytest.mark.parametrize("kind", ["Task", "task kind", "", "task:x", 3])
def test_a_node_kind_must_be_lowercase_letters_digits_underscores_dashes(kind):
    doc = small_doc()
    doc["nodes"][2]["kind"] = kind
    rejects(doc, 400, "nodes[2].kind")


def test_an_unknown_node_kind_is_accepted_as_is():
    doc = small_doc()
    doc["nodes"].append({"id": "widget:svc-1:1", "kind": "my_widget-2"})
    ingest_document(doc)
    assert Node.objects.get(node_id="widget:svc-1:1").kind == "my_widget-2"


def test_a_node_must_be_an_object():
    doc = small_doc()
    doc["nodes"][1] = "task:svc-1:3"
    rejects(doc, 400, "nodes[1]")


def test_nodes_must_be_a_list():
    rejects(small_doc(nodes={"a": 1}), 400, "nodes")


def test_a_label_must_be_a_string():
    doc = small_doc()
    doc["nodes"][0]["label"] = ["x"]
    rejects(doc, 400, "nodes[0].label")


def test_a_label_defaults_to_the_name_attribute():
    ingest_document(small_doc())
    assert Node.objects.get(node_id="task:svc-1:3").label == "acceptor"


def test_attrs_must_be_an_object():
    doc = small_doc()
    doc["nodes"][0]["attrs"] = [1, 2]
    rejects(doc, 400, "nodes[0].attrs")


def test_attrs_json_is_accepted_instead_of_attrs():
    doc = small_doc()
    del doc["nodes"][2]["attrs"]
    doc["nodes"][2]["attrs_json"] = '{"name": "db_pool", "waiter_count": 2}'
    ingest_document(doc)
    assert Node.objects.get(kind="lock").attrs == {"name": "db_pool", "waiter_count": 2}


def test_attrs_json_must_hold_an_object():
    doc = small_doc()
    doc["nodes"][2]["attrs_json"] = "[1]"
    del doc["nodes"][2]["attrs"]
    rejects(doc, 400, "nodes[2].attrs_json")


def test_attrs_json_must_be_valid_json():
    doc = small_doc()
    doc["nodes"][2]["attrs_json"] = "{nope"
    del doc["nodes"][2]["attrs"]
    rejects(doc, 400, "nodes[2].attrs_json", "not valid JSON")


def test_attrs_and_attrs_json_together_are_a_400():
    doc = small_doc()
    doc["nodes"][2]["attrs_json"] = "{}"
    rejects(doc, 400, "nodes[2].attrs_json", "not both")


def test_unknown_node_fields_are_kept_in_attrs():
    doc = small_doc()
    doc["nodes"][2]["source_file"] = "src/db.rs"
    doc["nodes"][2]["name"] = "shadowed"  # attrs win over a same-named extra field
    ingest_document(doc)
    attrs = Node.objects.get(kind="lock").attrs
    assert attrs["source_file"] == "src/db.rs"
    assert attrs["name"] == "db_pool"


def test_attrs_meta_is_kept():
    doc = small_doc()
    doc["nodes"][2]["attrs"]["meta"] = {"region": "eu-west-1"}
    ingest_document(doc)
    assert Node.objects.get(kind="lock").attrs["meta"] == {"region": "eu-west-1"}


def test_a_node_with_no_attrs_gets_an_empty_object():
    doc = small_doc()
    doc["nodes"].append({"id": "future:svc-1:9", "kind": "future"})
    ingest_document(doc)
    assert Node.objects.get(kind="future").attrs == {}


def test_a_body_without_nodes_is_an_empty_capture():
    proc = ingest_document({"process": "idle", "proc_key": "idle-1"})
    assert (proc.node_count, proc.edge_count) == (0, 0)


def test_nul_characters_are_refused_everywhere_postgresql_cannot_store_them():
    doc = small_doc()
    doc["nodes"][0]["attrs"]["name"] = "bad\x00name"
    rejects(doc, 400, "nodes[0].attrs", "NUL")
    doc = small_doc()
    doc["nodes"][0]["label"] = "bad\x00"
    rejects(doc, 400, "nodes[0].label", "NUL")
    doc = small_doc(frames={"1": "a\x00", "2": "b"})
    rejects(doc, 400, 'frames["1"]', "NUL")


def test_a_literal_backslash_u0000_text_is_not_mistaken_for_a_nul():
    doc = small_doc()
    doc["nodes"][0]["attrs"]["name"] = "\\u0000"
    ingest_document(doc)
    assert Node.objects.get(node_id="task:svc-1:7").attrs["name"] == "\\u0000"
