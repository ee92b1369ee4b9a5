"""Every configurable limit answers 413, and a gzip bomb is cut off while
inflating instead of being inflated in full."""

import gzip
import tracemalloc
import zlib

import orjson
import pytest

from snapshots.ingest import IngestError, ingest_document
from snapshots.ingest.body import inflate_gzip
from snapshots.models import IngestEvent

from .conftest import assert_nothing_stored, small_doc

pytestmark = pytest.mark.django_db


def rejects(doc, path, message=None):
    with pytest.raises(IngestError) as caught:
        ingest_document(doc)
    assert (caught.value.status, caught.value.path) == (413, path), caught.value
    if message:
        assert message in caught.value.message
    assert_nothing_stored()


def test_too_many_nodes_is_a_413(settings):
    settings.PEEPSWEB_MAX_NODES = 2
    rejects(small_doc(), "nodes", "3 nodes is over the limit of 2")


def test_exactly_the_node_limit_is_fine(settings):
    settings.PEEPSWEB_MAX_NODES = 3
    assert ingest_document(small_doc()).node_count == 3


def test_too_many_edges_is_a_413(settings):
    settings.PEEPSWEB_MAX_EDGES = 1
    rejects(small_doc(), "edges")


def test_a_label_over_the_string_limit_is_a_413(settings):
    settings.PEEPSWEB_MAX_STRING_BYTES = 100
    doc = small_doc()
    doc["nodes"][1]["label"] = "é" * 51  # 102 bytes: the limit counts UTF-8 bytes
    rejects(doc, "nodes[1].label")


def test_a_label_at_the_string_limit_is_fine(settings):
    settings.PEEPSWEB_MAX_STRING_BYTES = 100
    doc = small_doc()
    doc["nodes"][1]["label"] = "é" * 50
    assert ingest_document(doc).node_count == 3


def test_a_frame_text_over_the_string_limit_is_a_413(settings):
    settings.PEEPSWEB_MAX_STRING_BYTES = 100
    rejects(small_doc(frames={"1": "f" * 101, "2": "x"}), 'frames["1"]')


def test_an_attr_value_over_the_limit_is_a_413_by_default():
    doc = small_doc()
    doc["nodes"][2]["attrs"]["name"] = "x" * (64 * 1024 + 1)
    rejects(doc, "nodes[2].attrs")


def test_serialized_attrs_over_the_limit_are_a_413(settings):
    settings.PEEPSWEB_MAX_ATTRS_BYTES = 200
    doc = small_doc()
    doc["nodes"][2]["attrs"].update({f"k{i}": i for i in range(40)})
    rejects(doc, "nodes[2].attrs", "over the limit of 200")


def test_edge_attrs_have_the_same_limits(settings):
    settings.PEEPSWEB_MAX_ATTRS_BYTES = 100
    doc = small_doc()
    doc["edges"][1]["attrs"] = {"why": "y" * 100}
    rejects(doc, "edges[1].attrs")


def nested(depth):
    value = {}
    for _ in range(depth - 1):
        value = {"x": value}
    return value


def test_attrs_nested_17_levels_are_a_413():
    doc = small_doc()
    doc["nodes"][2]["attrs"] = nested(17)
    rejects(doc, "nodes[2].attrs", "deeper than 16")


def test_attrs_nested_16_levels_are_fine():
    doc = small_doc()
    doc["nodes"][2]["attrs"] = nested(16)
    assert ingest_document(doc).node_count == 3


def test_lists_count_as_nesting_levels(settings):
    settings.PEEPSWEB_MAX_ATTRS_DEPTH = 3
    doc = small_doc()
    doc["nodes"][2]["attrs"] = {"a": [[[1]]]}  # object, list, list, list
    rejects(doc, "nodes[2].attrs")


def test_nesting_at_the_configured_depth_is_fine(settings):
    settings.PEEPSWEB_MAX_ATTRS_DEPTH = 3
    doc = small_doc()
    doc["nodes"][2]["attrs"] = {"a": [[1]]}  # object, list, list
    assert ingest_document(doc).node_count == 3


def test_many_brackets_inside_strings_do_not_count_as_nesting():
    doc = small_doc()
    doc["nodes"][2]["attrs"]["name"] = "{[" * 40
    assert ingest_document(doc).node_count == 3


def test_an_id_longer_than_its_column_is_a_413():
    doc = small_doc()
    doc["nodes"][2]["id"] = "lock:svc-1:" + "x" * 1020
    rejects(doc, "nodes[2].id")


# -- the body limit, over HTTP ----------------------------------------------


def test_a_body_over_the_limit_is_a_413(post, settings, events):
    body = orjson.dumps(small_doc())
    settings.PEEPSWEB_MAX_BODY_BYTES = len(body) - 1
    response = post(body)
    assert response.status_code == 413
    assert response.json() == {
        "error": f"the body is over the limit of {len(body) - 1} bytes",
        "path": "",
    }
    assert events() == [(IngestEvent.REJECTED, 413)]
    assert_nothing_stored()


def test_a_body_exactly_at_the_limit_is_fine(post, settings):
    body = orjson.dumps(small_doc())
    settings.PEEPSWEB_MAX_BODY_BYTES = len(body)
    assert post(body).status_code == 201


def test_the_limit_applies_to_the_body_after_gzip_decoding(post, settings):
    body = orjson.dumps(small_doc())
    settings.PEEPSWEB_MAX_BODY_BYTES = len(body) - 1
    compressed = gzip.compress(body)
    assert len(compressed) < len(body) - 1
    response = post(compressed, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert "after gzip decoding" in response.json()["error"]


def test_a_small_gzip_bomb_is_a_413(post, settings):
    settings.PEEPSWEB_MAX_BODY_BYTES = 1024 * 1024
    bomb = gzip.compress(b" " * (64 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 100 * 1024
    response = post(bomb, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert_nothing_stored()


def gzip_bomb(inflated_size):
    """Gzip of `inflated_size` zero bytes, built without holding them in memory."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1024 * 1024)
    parts = [packer.compress(block) for _ in range(inflated_size // len(block))]
    parts.append(packer.flush())
    return b"".join(parts)


def test_inflating_a_bomb_stops_at_the_limit_instead_of_inflating_it_in_full():
    bomb = gzip_bomb(1024 * 1024 * 1024)  # 1 GiB of zeros in about 1 MB
    limit = 4 * 1024 * 1024
    chunks = [bomb[i : i + 65536] for i in range(0, len(bomb), 65536)]
    tracemalloc.start()
    try:
        with pytest.raises(IngestError) as caught:
            inflate_gzip(iter(chunks), limit)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.status == 413
    # Inflating it all would have taken 1 GiB; the cut-off keeps it near the limit.
    assert peak < 3 * limit


def test_inflate_gzip_produces_at_most_limit_plus_one_bytes():
    data = bytes(range(256)) * 400
    assert inflate_gzip([gzip.compress(data)], len(data)) == data
    with pytest.raises(IngestError):
        inflate_gzip([gzip.compress(data)], len(data) - 1)


def test_concatenated_gzip_members_inflate_as_one_body():
    assert inflate_gzip([gzip.compress(b'{"a":') + gzip.compress(b"1}")], 100) == b'{"a":1}'


def test_a_declared_content_length_over_the_limit_is_refused_before_reading(post, settings):
    settings.PEEPSWEB_MAX_BODY_BYTES = 10
    response = post(orjson.dumps(small_doc()))
    assert response.status_code == 413


def test_a_body_without_content_length_is_cut_at_the_limit_while_reading(rf, settings):
    from snapshots.ingest.body import read_body

    body = orjson.dumps(small_doc())
    request = rf.post("/api/v1/snapshots", body, content_type="application/json")
    del request.META["CONTENT_LENGTH"]  # as for a chunked upload
    with pytest.raises(IngestError) as caught:
        read_body(request, limit=len(body) - 1)
    assert caught.value.status == 413


def test_a_gzip_body_of_empty_members_is_held_to_the_limit_too(rf):
    from snapshots.ingest.body import read_body

    body = gzip.compress(b"") * 1000  # ~20 KB that inflates to nothing
    request = rf.post(
        "/api/v1/snapshots",
        body,
        content_type="application/json",
        headers={"Content-Encoding": "gzip"},
    )
    del request.META["CONTENT_LENGTH"]
    with pytest.raises(IngestError) as caught:
        read_body(request, limit=5000)
    assert caught.value.status == 413
