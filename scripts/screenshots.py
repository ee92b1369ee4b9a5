"""Regenerate the page screenshots in docs/screenshots/.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--only tasks]

Builds a throwaway SQLite database holding the example snapshots plus a
generated "demo" service (a few hundred tasks with shared stacks, locks,
channels and wake events), starts a real daphne on a free loopback port and
photographs each main page in Debian's Chromium (light, and dark for a few).
Nothing here touches the project's own database.
"""

import argparse
import json
import os
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHROMIUM = os.environ.get("PEEPSWEB_CHROMIUM", "/usr/bin/chromium")
BASE_NS = 1_763_772_000_000_000_000


def setup_django(db_path):
    os.environ["DJANGO_SETTINGS_MODULE"] = "peepsweb.settings"
    os.environ["SQLITE_PATH"] = str(db_path)
    os.environ.pop("DATABASE_URL", None)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    if not any((ROOT / "snapshots" / "migrations").glob("0*.py")):
        settings.MIGRATION_MODULES = {"snapshots": None}
    call_command("migrate", run_syncdb=True, verbosity=0)


STACKS = [
    [
        "tokio::sync::mutex::Mutex<T>::lock\n    at src/db.rs:42:17",
        "demo::db::Pool::get\n    at src/db.rs:88:5",
        "demo::conn::handle\n    at src/conn.rs:118:9",
    ],
    [
        "tokio::sync::mutex::Mutex<T>::lock\n    at src/db.rs:42:17",
        "demo::db::Pool::get\n    at src/db.rs:88:5",
        "demo::flush::run\n    at src/flush.rs:30:13",
    ],
    [
        "tokio::sync::mpsc::Sender<T>::send\n    at src/queue.rs:12:9",
        "demo::ingest::push\n    at src/ingest.rs:61:21",
        "demo::conn::handle\n    at src/conn.rs:131:9",
    ],
    [
        "tokio::time::sleep\n    at src/retry.rs:9:5",
        "demo::retry::backoff\n    at src/retry.rs:20:9",
    ],
]
STATES = ["pending"] * 5 + [
    "running",
    "polling",
    "ready",
    "completed",
    "failed",
    "sleeping",
    "cancelled",
]


def demo_document(n_tasks=240, seed=7):
    """A small but busy service: connection handlers queueing on a DB pool
    lock and a bounded channel, a flusher, retries."""
    rng = random.Random(seed)
    key = "demo-svc-4100"
    nodes = [
        {
            "id": f"lock:{key}:db_pool",
            "kind": "lock",
            "label": "db_pool",
            "attrs": {
                "name": "db_pool",
                "lock_kind": "mutex",
                "holder_count": 1,
                "waiter_count": 61,
            },
        },
        {
            "id": f"lock:{key}:cache",
            "kind": "lock",
            "label": "cache",
            "attrs": {
                "name": "cache",
                "lock_kind": "rwlock_read",
                "holder_count": 3,
                "waiter_count": 0,
            },
        },
        {
            "id": f"mpsc:{key}:ingest:tx",
            "kind": "mpsc_tx",
            "label": "ingest tx",
            "attrs": {"name": "ingest", "capacity": 64, "queue_len": 64, "send_waiters": 40},
        },
        {
            "id": f"mpsc:{key}:ingest:rx",
            "kind": "mpsc_rx",
            "label": "ingest rx",
            "attrs": {"name": "ingest", "capacity": 64, "queue_len": 64, "recv_waiters": 0},
        },
        {
            "id": f"semaphore:{key}:uploads",
            "kind": "semaphore",
            "label": "uploads",
            "attrs": {"name": "uploads", "permits_total": 8, "permits_available": 0, "waiters": 12},
        },
        {
            "id": f"request:{key}:c9:41",
            "kind": "request",
            "label": "Storage.put",
            "attrs": {
                "method": "Storage.put",
                "elapsed_ns": 9_400_000_000,
                "peer": "storage",
                "correlation_key": "c9:41",
                "direction": "outgoing",
            },
        },
    ]
    edges, wakes, traces = [], [], []
    frames = {}
    frame_ids = {}
    for stack in STACKS:
        for text in stack:
            if text not in frame_ids:
                frame_ids[text] = len(frame_ids) + 1
                frames[str(frame_ids[text])] = text
    names = ["conn_handler", "flush_worker", "ingest_push", "retry_loop", "accept_loop", "gc_tick"]
    for i in range(1, n_tasks + 1):
        name = names[i % len(names)] if i > 1 else "accept_loop"
        state = rng.choice(STATES) if i > 1 else "running"
        tid = f"task:{key}:{i}"
        nodes.append(
            {
                "id": tid,
                "kind": "task",
                "label": f"{name}#{i}",
                "attrs": {
                    "task_id": i,
                    "name": f"{name}#{i}",
                    "state": state,
                    "spawned_at_ns": BASE_NS - rng.randrange(1, 900) * 1_000_000_000,
                },
            }
        )
        if state in ("pending", "sleeping"):
            stack = STACKS[i % len(STACKS)]
            traces.append(
                {
                    "task_id": i,
                    "at_ns": BASE_NS - 500_000_000,
                    "duration_us": rng.randrange(200_000, 60_000_000),
                    "frame_ids": [frame_ids[t] for t in stack],
                }
            )
            target = {
                0: f"lock:{key}:db_pool",
                1: f"lock:{key}:db_pool",
                2: f"mpsc:{key}:ingest:tx",
                3: None,
            }[i % len(STACKS)]
            if target:
                edges.append({"src_id": tid, "dst_id": target, "kind": "needs"})
        if i > 1:
            wakes.append(
                {
                    "at_ns": BASE_NS - rng.randrange(1, 30_000) * 1_000_000,
                    "waker_task_id": rng.randrange(1, i) if i % 4 else None,
                    "woken_task_id": i,
                    "target_worker": i % 4,
                }
            )
    edges.append({"src_id": f"lock:{key}:db_pool", "dst_id": f"task:{key}:2", "kind": "needs"})
    edges.append(
        {"src_id": f"mpsc:{key}:ingest:tx", "dst_id": f"mpsc:{key}:ingest:rx", "kind": "needs"}
    )
    edges.append({"src_id": f"task:{key}:2", "dst_id": f"request:{key}:c9:41", "kind": "needs"})
    edges.append(
        {"src_id": f"request:{key}:c9:41", "dst_id": "response:storage-7:c9:41", "kind": "needs"}
    )
    return {
        "process": "demo-svc",
        "pid": 4100,
        "proc_key": key,
        "captured_at_ns": BASE_NS,
        "nodes": nodes,
        "edges": edges,
        "wake_events": wakes,
        "frames": frames,
        "pending_traces": traces,
    }


def load_data():
    from snapshots.ingest import ingest_document

    ids = {}
    for path in sorted((ROOT / "snapshots" / "example_snapshots").glob("*.json")):
        ids[path.stem] = ingest_document(json.loads(path.read_bytes()), source="test").snapshot_id
    ids["demo"] = ingest_document(demo_document(), source="test").snapshot_id
    return ids


def pages(ids):
    """(file name, path, dark?) for every screenshot."""
    demo, locks = ids["demo"], ids["mutex_lock_order_inversion"]
    frontend, channel = ids["rpc_frontend"], ids["channel_full_stall"]
    return [
        ("home", "/", False),
        ("overview", f"/snapshots/{demo}/", False),
        ("tasks", f"/snapshots/{demo}/tasks/?sort=-pending_us", False),
        ("tasks-dark", f"/snapshots/{demo}/tasks/?state_class=waiting&sort=-age", True),
        ("channels", f"/snapshots/{channel}/kinds/channels/", False),
        ("locks", f"/snapshots/{demo}/kinds/locks/", False),
        ("inspector", f"/snapshots/{locks}/nodes/task:lock-demo-4242:11/", False),
        ("inspector-dark", f"/snapshots/{demo}/nodes/task:demo-svc-4100:6/", True),
        ("backtraces", f"/snapshots/{demo}/backtraces/", False),
        ("unresolved", f"/snapshots/{frontend}/unresolved/", False),
        ("stuck-requests", f"/snapshots/{frontend}/stuck-requests/", False),
        ("graph", f"/snapshots/{locks}/graph/?node=task:lock-demo-4242:11", False),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument("--only", help="photograph only the page of this name")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="peepsweb-shots-"))
    db_path = tmp / "shots.sqlite3"
    setup_django(db_path)
    ids = load_data()

    from playwright.sync_api import sync_playwright

    from tests.support.processes import start_daphne

    env = dict(os.environ, SQLITE_PATH=str(db_path), PEEPSWEB_LIVE_WINDOW_S="86400")
    server = start_daphne(env, tmp / "daphne.log")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
            )
            for name, path, dark in pages(ids):
                if args.only and name != args.only:
                    continue
                context = browser.new_context(
                    viewport={"width": 1360, "height": 900},
                    color_scheme="dark" if dark else "light",
                )
                page = context.new_page()
                response = page.goto(server.url + path)
                status = response.status if response else "?"
                # The header's indicator says "live", not "connecting…".
                page.wait_for_selector('#live-status[data-state="live"]')
                page.screenshot(path=str(out / f"{name}.png"), full_page=False)
                print(f"{name:16} {status} {path}")
                if status == 500:
                    print(server.log()[-3000:])
                context.close()
            browser.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
