"""The node inspector: one stable URL per snapshot and node id."""

from django.urls import reverse

from snapshots.templatetags.peeps import node_path
from tests.pages.conftest import BASE_NS, S, document, task


def inspect(client, snapshot, node_id, **kwargs):
    return client.get(reverse("pages:node", args=[snapshot, node_id]), **kwargs)


def test_it_shows_the_node_its_process_and_readable_attrs(client, examples):
    snapshot = examples["mutex_lock_order_inversion"]
    response = inspect(client, snapshot, "task:lock-demo-4242:11")
    assert response.status_code == 200
    body = response.content.decode()
    assert "<title>transfer_a_to_b · snapshot" in body
    assert "lock-demo-4242 · pid 4242" in body
    # spawned_at_ns as a date and an age at capture
    assert "2025-11-22 00:39:18.000 UTC" in body and "42.0s before capture" in body
    # breadcrumbs: snapshot > tasks > node
    assert f'<a href="/snapshots/{snapshot}/tasks/">Tasks</a>' in body


def test_it_lists_needs_and_needed_by_with_state_colours_and_links(client, examples):
    snapshot = examples["mutex_lock_order_inversion"]
    response = inspect(client, snapshot, "task:lock-demo-4242:11")
    detail = response.context["detail"]
    assert [e["other_id"] for e in detail.needs] == ["lock:lock-demo-4242:account_b"]
    assert {e["other_id"] for e in detail.needed_by} == {
        "lock:lock-demo-4242:account_a", "task:lock-demo-4242:1"
    }  # fmt: skip
    body = response.content.decode()
    assert f'href="/snapshots/{snapshot}/nodes/lock:lock-demo-4242:account_b/"' in body
    assert '<span class="dot state-waiting" title="pending">' in body


def test_it_marks_a_cycle_member(client, examples):
    snapshot = examples["mutex_lock_order_inversion"]
    body = inspect(client, snapshot, "task:lock-demo-4242:11").content.decode()
    assert "in a needs cycle" in body


def test_it_shows_wake_sources_per_waker_and_recent_wakes_in_order(client, ingest):
    key = "wake-1"
    snapshot = ingest(
        document(
            key,
            [task(key, 1, "main", "running"), task(key, 2, "worker"), task(key, 3, "waiter")],
            wake_events=[
                {
                    "at_ns": BASE_NS - 5 * S,
                    "waker_task_id": 1,
                    "woken_task_id": 3,
                    "target_worker": 0,
                },
                {
                    "at_ns": BASE_NS - 3 * S,
                    "waker_task_id": 2,
                    "woken_task_id": 3,
                    "target_worker": 1,
                },
                {
                    "at_ns": BASE_NS - 2 * S,
                    "waker_task_id": 1,
                    "woken_task_id": 3,
                    "target_worker": 2,
                },
                {
                    "at_ns": BASE_NS - 1 * S,
                    "waker_task_id": None,
                    "woken_task_id": 3,
                    "target_worker": None,
                },
            ],
        )
    )
    response = inspect(client, snapshot, f"task:{key}:3")
    sources = {s["waker"]: s for s in response.context["detail"].wake_sources}
    assert sources[f"task:{key}:1"]["count"] == 2
    assert sources[f"task:{key}:1"]["target_workers"] == [0, 2]
    body = response.content.decode()
    assert "2.00s before capture" in body  # task 1's last wake
    assert "outside any task" in body
    events = body[body.index('id="wake-events"') :]
    assert events.index("5.00s") < events.index("3.00s") < events.index("1.00s")


def test_an_attr_of_several_lines_keeps_its_lines_escaped(client, ingest):
    # The Python client's thread nodes carry a stack, one frame per line.
    key = "threads-1"
    stack = "Event.wait\n    at threading.py:655\n<script>job()</script>\n    at app.py:5"
    thread = {"id": f"thread:{key}:77", "kind": "thread", "label": "thread asyncio_0"}
    thread["attrs"] = {"name": "asyncio_0", "stack": stack}
    snapshot = ingest(document(key, [task(key, 1, "main"), thread]))
    body = inspect(client, snapshot, f"thread:{key}:77").content.decode()
    assert (
        '<pre class="attr-text">Event.wait\n    at threading.py:655\n'
        "&lt;script&gt;job()&lt;/script&gt;\n    at app.py:5</pre>"
    ) in body
    assert "<script>job()" not in body


def test_it_shows_pending_traces_innermost_frame_first_with_copy_and_download(client, examples):
    snapshot = examples["mutex_lock_order_inversion"]
    body = inspect(client, snapshot, "task:lock-demo-4242:11").content.decode()
    traces = body[body.index('id="traces"') :]
    assert 'pending <strong class="pending-duration">42.0s</strong>' in traces
    assert traces.index("Mutex&lt;T&gt;::lock") < traces.index("transfer_a_to_b::{{closure}}")
    assert '<details class="trace" id="trace-1" open>' in traces
    assert 'data-copy-target="#trace-text-1"' in traces
    assert "download=1" in traces


def test_the_trace_text_lists_frames_innermost_first(client, examples):
    snapshot = examples["mutex_lock_order_inversion"]
    response = client.get(
        reverse("pages:trace_text", args=[snapshot]), {"node": "task:lock-demo-4242:11"}
    )
    text = response.content.decode()
    assert text.startswith("task transfer_a_to_b (task:lock-demo-4242:11) in lock-demo-4242\n")
    assert "pending for 42.0s" in text
    assert text.index("#0   std::sync::Mutex<T>::lock") < text.index("#2   lock_demo::transfer_a")
    missing = client.get(reverse("pages:trace_text", args=[snapshot]), {"node": "nope"})
    assert missing.status_code == 404


def test_node_ids_with_slashes_and_url_characters_have_working_urls(client, ingest):
    key = "ids-1"
    odd = [
        f"task:{key}:a/b",
        f"task:{key}:../up",
        f"task:{key}:q?x=1#frag",
        f"task:{key}:50%",
        f"task:{key}:a/../../b",  # browsers would resolve ".." away in a path
        f"task:{key}:./",
    ]
    nodes = [
        {
            "id": node_id,
            "kind": "task",
            "label": f"n{i}",
            "attrs": {"task_id": i, "name": f"n{i}", "state": "pending"},
        }
        for i, node_id in enumerate(odd)
    ]
    snapshot = ingest(document(key, nodes))
    for node_id in odd:
        url = node_path(snapshot, node_id)
        assert "/./" not in url and "/../" not in url and not url.endswith(("/.", "/.."))
        response = client.get(url)
        assert response.status_code == 200, node_id
        assert response.context["node"].node_id == node_id
        assert url in client.get(reverse("pages:tasks", args=[snapshot])).content.decode()


def test_the_node_url_is_stable_per_snapshot(client, examples):
    url = reverse("pages:node", args=[examples["rpc_frontend"], "task:frontend-100:5"])
    assert url == f"/snapshots/{examples['rpc_frontend']}/nodes/task:frontend-100:5/"


def test_an_unknown_node_is_a_404(client, examples):
    response = inspect(client, examples["rpc_frontend"], "task:frontend-100:999")
    assert response.status_code == 404
    assert "No node" in response.content.decode()


def test_an_unresolved_edge_is_flagged_on_the_node(client, examples):
    snapshot = examples["rpc_frontend"]
    body = inspect(client, snapshot, "response:frontend-100:conn_2:3").content.decode()
    assert "unresolved: backend-200 not in this snapshot" in body
    live = inspect(client, "live", "response:frontend-100:conn_2:3").content.decode()
    assert "unresolved:" not in live  # the backend is in the live view
    assert 'href="/snapshots/live/nodes/request:backend-200:conn_2:3/"' in live


def test_it_links_to_the_graph_neighbourhood(client, examples):
    snapshot = examples["rpc_frontend"]
    body = inspect(client, snapshot, "task:frontend-100:5").content.decode()
    assert f'href="/snapshots/{snapshot}/graph/?node=task%3Afrontend-100%3A5"' in body
