"""One sentence per needs edge, chosen by the endpoint kinds and attrs."""

import pytest

from snapshots.cycles.explain import display_name, explain_edge

from .helpers import info

T1 = info("task:p:1", attrs={"name": "transfer_a_to_b"})
T2 = info("task:p:2", attrs={"name": "transfer_b_to_a"})
LOCK = info("lock:p:b", attrs={"name": "account_b", "lock_kind": "mutex"})
RLOCK = info("lock:p:r", attrs={"name": "config", "lock_kind": "rwlock_read"})
WLOCK = info("lock:p:w", attrs={"name": "config", "lock_kind": "rwlock_write"})
SEM = info(
    "semaphore:p:s", attrs={"name": "extraction", "permits_total": 2, "permits_available": 0}
)
TX = info(
    "mpsc:p:q:tx", kind="mpsc_tx", attrs={"name": "work_queue", "capacity": 16, "queue_len": 16}
)
RX = info(
    "mpsc:p:q:rx", kind="mpsc_rx", attrs={"name": "work_queue", "capacity": 16, "queue_len": 0}
)
OTX = info("oneshot:p:g:tx", kind="oneshot_tx", attrs={"name": "start_gate"})
ORX = info("oneshot:p:g:rx", kind="oneshot_rx", attrs={"name": "start_gate"})
TF = info("task:frontend-100:5", attrs={"name": "handle_http"})
REQ = info("request:frontend-100:c:7", attrs={"method": "Backend.fetch", "peer": "backend"})
REQ2 = info("request:frontend-100:c:8", attrs={"method": "Cache.get"})
RESP = info("response:backend-200:c:7", process="backend", attrs={"method": "Backend.fetch"})
HANDLER = info("task:backend-200:9", process="backend", attrs={"name": "fetch_handler"})
FUT = info("future:p:9", attrs={"label": "listener.accept"})
ONCE = info("oncecell:p:cfg", attrs={"name": "config"})
ODD = info("gizmo:p:x", label="sprocket")


@pytest.mark.parametrize(
    "src, dst, sentence",
    [
        (T1, LOCK, "task transfer_a_to_b waits on lock account_b"),
        (LOCK, T2, "lock account_b is held by task transfer_b_to_a"),
        (T1, RLOCK, "task transfer_a_to_b waits on lock config for reading"),
        (T1, WLOCK, "task transfer_a_to_b waits on lock config for writing"),
        (
            T1,
            SEM,
            "task transfer_a_to_b waits for a permit of semaphore extraction (0/2 available)",
        ),
        (SEM, T2, "semaphore extraction has its permits held by task transfer_b_to_a"),
        (TX, RX, "sender work_queue tx waits for the receiver to drain (16/16 queued)"),
        (OTX, ORX, "sender start_gate tx waits for the receiver to take the value"),
        (ORX, OTX, "receiver start_gate rx waits for a value from the sender"),
        (RX, TX, "receiver work_queue rx waits for a value from the sender (0/16 queued)"),
        (T1, TX, "task transfer_a_to_b waits to send on work_queue tx"),
        (T1, RX, "task transfer_a_to_b waits to receive on work_queue rx"),
        (TX, T2, "sender work_queue tx is owned by task transfer_b_to_a, which has not sent yet"),
        (
            RX,
            T2,
            "receiver work_queue rx is owned by task transfer_b_to_a, which has not received yet",
        ),
        (REQ, RESP, "request Backend.fetch waits for its response in process backend"),
        (RESP, HANDLER, "response Backend.fetch waits for its handler task fetch_handler"),
        (TF, REQ, "task handle_http waits on request Backend.fetch to backend"),
        (REQ, REQ2, "request Backend.fetch waits on downstream request Cache.get"),
        (T1, ONCE, "task transfer_a_to_b waits for once-cell config to be initialized"),
        (ONCE, T2, "once-cell config is being initialized by task transfer_b_to_a"),
        (T1, FUT, "task transfer_a_to_b awaits future listener.accept"),
        (FUT, LOCK, "future listener.accept waits on lock account_b"),
        (FUT, T2, "future listener.accept waits on task transfer_b_to_a"),
        (T1, T2, "task transfer_a_to_b waits for task transfer_b_to_a"),
        (ODD, T2, "gizmo sprocket needs task transfer_b_to_a to make progress"),
        (T2, ODD, "task transfer_b_to_a needs gizmo sprocket to make progress"),
    ],
)
def test_each_pattern_reads_as_a_sentence(src, dst, sentence):
    assert explain_edge(src, dst) == sentence


def test_a_channel_pair_with_different_names_names_the_receiver():
    other = info("mpsc:p:o:rx", kind="mpsc_rx", attrs={"name": "other"})
    assert explain_edge(TX, other) == (
        "sender work_queue tx waits for receiver other rx to drain (16/16 queued)"
    )


def test_a_sender_without_counts_says_only_that_it_waits():
    tx = info("mpsc:p:q:tx", kind="mpsc_tx", attrs={"name": "jobs"})
    rx = info("mpsc:p:q:rx", kind="mpsc_rx", attrs={"name": "jobs"})
    assert explain_edge(tx, rx) == "sender jobs tx waits for the receiver to drain"


def test_a_cross_process_edge_names_the_other_process():
    remote = info("task:backend-200:4", process="backend", attrs={"name": "worker"})
    local = info("task:frontend-100:1", process="frontend", attrs={"name": "client"})
    assert explain_edge(local, remote) == "task client waits for task worker in process backend"


def test_an_edge_reason_attr_is_appended():
    assert explain_edge(T1, T2, {"reason": "join handle"}) == (
        "task transfer_a_to_b waits for task transfer_b_to_a (join handle)"
    )


def test_names_fall_back_from_attrs_to_label_to_the_id():
    assert display_name(info("task:p:7", label="from label")) == "from label"
    assert display_name(info("task:p:7")) == "7"
    assert display_name(info("weird")) == "weird"
    assert display_name(info("request:p:1", attrs={"method": "M"}, label="L")) == "M"


def test_an_asyncio_default_task_name_comes_after_the_label():
    """Most programs do not name their tasks: asyncio's "Task-3" says
    nothing, the Python client's label (the coroutine) does."""
    unnamed = info("task:p:3", attrs={"name": "Task-3"}, label="transfer")
    assert display_name(unnamed) == "transfer (Task-3)"
    named = info("task:p:4", attrs={"name": "left"}, label="transfer")
    assert display_name(named) == "left"
    assert display_name(info("task:p:5", attrs={"name": "Task-5"})) == "Task-5"
    assert display_name(info("task:p:6", attrs={"name": "Task-6"}, label="Task-6")) == "Task-6"
    assert display_name(info("lock:p:1", attrs={"name": "Task-1"}, label="L")) == "Task-1"


def test_hostile_names_are_flattened_and_capped():
    name = display_name(info("task:p:1", attrs={"name": "a\nb\t<script>" + "x" * 200}))
    assert "\n" not in name and "\t" not in name
    assert len(name) == 80
    assert name.startswith("a b <script>") and name.endswith("…")


def test_non_string_attrs_are_ignored():
    node = info("lock:p:z", attrs={"name": 42, "lock_kind": ["x"]}, label="zlock")
    assert explain_edge(T1, node) == "task transfer_a_to_b waits on lock zlock"
    sem = info("semaphore:p:s", attrs={"permits_total": True, "permits_available": "0"})
    assert explain_edge(T1, sem) == "task transfer_a_to_b waits for a permit of semaphore s"
