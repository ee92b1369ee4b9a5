"""Wake events resolved to task nodes; frames and pending traces."""

import pytest

from snapshots import versions
from snapshots.ingest import IngestError, ingest_document
from snapshots.models import Frame, PendingTrace, WakeEvent
from snapshots.scope import resolve_scope

from .conftest import assert_nothing_stored, small_doc

pytestmark = pytest.mark.django_db


def rejects(doc, status, path, message=None):
    with pytest.raises(IngestError) as caught:
        ingest_document(doc)
    assert (caught.value.status, caught.value.path) == (status, path), caught.value
    if message:
        assert message in caught.value.message
    assert_nothing_stored()


def test_wake_event_task_ids_resolve_to_task_node_ids():
    ingest_document(small_doc())
    wake = WakeEvent.objects.get()
    assert (wake.waker, wake.woken, wake.target_worker, wake.at_ns) == (
        "task:svc-1:3",
        "task:svc-1:7",
        1,
        10,
    )


def test_a_wake_from_outside_any_task_has_an_empty_waker_and_may_lack_a_worker():
    doc = small_doc(wake_events=[{"at_ns": 5, "waker_task_id": None, "woken_task_id": 7}])
    ingest_document(doc)
    wake = WakeEvent.objects.get()
    assert (wake.waker, wake.woken, wake.target_worker) == ("", "task:svc-1:7", None)


def test_a_wake_event_needs_a_woken_task_id():
    doc = small_doc(wake_events=[{"at_ns": 5, "waker_task_id": 3}])
    rejects(doc, 400, "wake_events[0].woken_task_id")


def test_a_wake_event_needs_at_ns():
    doc = small_doc(wake_events=[{"woken_task_id": 7}])
    rejects(doc, 400, "wake_events[0].at_ns")


def test_wake_task_ids_must_be_integers():
    doc = small_doc(wake_events=[{"at_ns": 1, "woken_task_id": "7"}])
    rejects(doc, 400, "wake_events[0].woken_task_id")


def test_frames_are_stored_by_their_id():
    proc = ingest_document(small_doc())
    frames = dict(versions.of(Frame, proc).values_list("frame_key", "text"))
    assert frames == {1: "tokio::sync::Mutex::lock", 2: "svc::handle"}


def test_a_pending_trace_is_stored_on_its_task_node_innermost_frame_first():
    proc = ingest_document(small_doc())
    trace = versions.of(PendingTrace, proc).get()
    # Stored as when the wait began (at_ns - duration_us); read as of the capture.
    assert (trace.node_id, trace.task_id, trace.since_ns, trace.frame_ids) == (
        "task:svc-1:7",
        7,
        20 - 5_200_000_000,
        [1, 2],
    )
    assert trace.at_ns == proc.captured_at_ns
    assert trace.duration_us == (proc.captured_at_ns - trace.since_ns) // 1000


def test_it_rejects_a_frame_id_missing_from_frames():
    doc = small_doc()
    doc["pending_traces"][0]["frame_ids"] = [1, 3]
    rejects(doc, 400, "pending_traces[0].frame_ids[1]", "frame id 3 is not in frames")


def test_a_frame_id_must_be_an_integer():
    rejects(small_doc(frames={"one": "x"}), 400, 'frames["one"]')


def test_frames_must_be_an_object():
    rejects(small_doc(frames=["x"]), 400, "frames")


def test_frame_text_must_be_a_string():
    rejects(small_doc(frames={"1": 5, "2": "x"}), 400, 'frames["1"]')


def test_a_pending_trace_needs_a_task_id():
    doc = small_doc()
    del doc["pending_traces"][0]["task_id"]
    rejects(doc, 400, "pending_traces[0].task_id")


def test_pending_traces_may_come_without_frames():
    doc = small_doc(frames=None)
    doc["pending_traces"][0]["frame_ids"] = []
    assert ingest_document(doc).trace_count == 1


def test_a_trace_since_ns_must_be_an_integer():
    doc = small_doc()
    doc["pending_traces"][0]["since_ns"] = "yesterday"
    rejects(doc, 400, "pending_traces[0].since_ns")


def test_a_duration_reaching_before_int64_time_is_refused_by_name():
    doc = small_doc()
    doc["pending_traces"][0]["duration_us"] = 2**62
    rejects(doc, 400, "pending_traces[0].duration_us", "before the year 1678")


def test_a_trace_since_ns_is_used_as_given():
    doc = small_doc()
    doc["pending_traces"][0]["since_ns"] = 7
    proc = ingest_document(doc)
    assert versions.of(PendingTrace, proc).get().since_ns == 7


def test_a_wake_sent_again_in_the_next_capture_is_stored_once():
    # A sender sends its newest wakes with every capture (the Python client
    # its newest 2,000): each is stored once, and every capture still reads
    # exactly the list it was sent.
    def wake(at_ns, woken):
        return {"at_ns": at_ns, "waker_task_id": 3, "woken_task_id": woken, "target_worker": 1}

    first = ingest_document(small_doc(wake_events=[wake(10, 7), wake(11, 7)]))
    second = ingest_document(small_doc(wake_events=[wake(11, 7), wake(12, 7)]))
    third = ingest_document(small_doc(wake_events=[wake(11, 7), wake(12, 7)]))
    assert WakeEvent.objects.count() == 3  # 10, 11 and 12, once each

    def read(result):
        scope = resolve_scope(str(result.snapshot_id))
        return sorted(scope.wakes().values_list("at_ns", flat=True))

    pairs = set(WakeEvent.objects.values_list("waker", "woken"))
    assert pairs == {("task:svc-1:3", "task:svc-1:7")}
    assert (read(first), read(second), read(third)) == ([10, 11], [11, 12], [11, 12])
