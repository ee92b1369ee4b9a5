"""snapshots.gc_pause.paused_gc: ingest and the cycle finder pause the cyclic
GC for their bulk phase and leave it as they found it."""

import gc

import pytest

from snapshots.gc_pause import paused_gc
from snapshots.ingest import IngestError, ingest_document
from tests.support.examples import read_example


def test_the_collector_is_paused_inside_and_restored_after_an_error():
    assert gc.isenabled()
    with pytest.raises(ValueError), paused_gc():
        assert not gc.isenabled()
        raise ValueError
    assert gc.isenabled()


def test_a_collector_disabled_by_the_caller_stays_disabled():
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.django_db
def test_ingest_leaves_the_collector_running_whether_it_stores_or_refuses():
    ingest_document(read_example("rpc_backend"))
    assert gc.isenabled()
    with pytest.raises(IngestError):
        ingest_document({"process": "x", "pid": 1, "nodes": [7]})
    assert gc.isenabled()
