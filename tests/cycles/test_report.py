"""The text deadlock report, against golden files.

Regenerate after an intended change with PEEPSWEB_UPDATE_GOLDEN=1 and review
the diff."""

import os
import re
from pathlib import Path

import pytest

from snapshots.cycles import report, service
from snapshots.ingest import ingest_document
from snapshots.scope import resolve_scope
from tests.cycles.helpers import document, task

GOLDEN = Path(__file__).parent / "golden"


def check_golden(name, text):
    # Snapshot ids depend on the database: "first seen ... (snapshot <ID>)".
    text = re.sub(r"\(snapshot \d+\)", "(snapshot <ID>)", text)
    path = GOLDEN / name
    if os.environ.get("PEEPSWEB_UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert text == path.read_text()


def test_the_lock_order_inversion_report_matches_the_golden_file(example_snapshot):
    proc = example_snapshot("mutex_lock_order_inversion")
    text = service.report_text(resolve_scope(proc.snapshot_id))
    # The snapshot id depends on the database; the golden file says <ID>.
    text = text.replace(f"for snapshot {proc.snapshot_id}\n", "for snapshot <ID>\n", 1)
    check_golden("mutex_lock_order_inversion.txt", text)


def test_the_live_report_of_every_example_matches_the_golden_file(load_examples):
    check_golden("live_all_examples.txt", service.report_text(resolve_scope("live")))


def test_a_snapshot_without_cycles_says_so(example_snapshot):
    proc = example_snapshot("channel_full_stall")
    text = service.report_text(resolve_scope(proc.snapshot_id))
    assert "Found no deadlocks: the needs graph has no cycle." in text
    assert "Found 1" not in text


def test_the_report_drops_control_characters_from_snapshot_text():
    result = {
        "candidates": [
            {
                "members": ["task:p:1"],
                "cycle": ["task:p:1"],
                "edges": [
                    {
                        "src_id": "task:p:1",
                        "dst_id": "task:p:1",
                        "explanation": "task a\x1b[31m waits for task a",
                    }
                ],
                "cross_process": False,
                "severity": "danger",
                "score": 1.0,
                "worst_wait_ns": 0,
                "blocked_task_count": 1,
                "confidence": "high",
                "confidence_reason": "",
            }
        ],
        "nodes": {"task:p:1": {"kind": "task", "name": "a\x07", "process": "p\x00"}},
        "traces": {
            "task:p:1": [{"at_ns": 0, "duration_us": 5, "frames": ["f\x1b[2J\n    at x.rs:1"]}]
        },
        "processes": [],
    }
    text = report.render_report(result, "snapshot 1")
    assert "\x1b" not in text and "\x07" not in text and "\x00" not in text
    assert "    f[2J\n        at x.rs:1" in text


def test_durations_read_naturally():
    assert report.fmt_duration_ns(0) == "unknown"
    assert report.fmt_duration_ns(5_000) == "5 µs"
    assert report.fmt_duration_ns(250_000_000) == "250 ms"
    assert report.fmt_duration_ns(41_500_000_000) == "41.5 s"
    assert report.fmt_duration_ns(600 * 10**9) == "10 min 0 s"
    assert report.fmt_duration_ns(3 * 3600 * 10**9) == "3 h 0 min"


@pytest.mark.django_db
def test_each_participant_shows_its_newest_trace_only():
    a, b = task("tr-1", 1, "a"), task("tr-1", 2, "b")
    at = 1_763_772_000_000_000_000
    # The newest trace is the wait that began last (since_ns); durations are
    # as of the capture, which is taken at `at`.
    traces = [
        {"task_id": 1, "at_ns": at, "since_ns": at - 3_000_000, "frame_ids": [1]},
        {"task_id": 1, "at_ns": at, "since_ns": at - 1_000_000, "frame_ids": [2, 1]},
        {"task_id": 1, "at_ns": at, "since_ns": at - 2_000_000, "frame_ids": [1]},
        {"task_id": 2, "at_ns": at - 500, "duration_us": 9, "frame_ids": [3]},
    ]
    frames = {"1": "old_frame\n    at a.py:1", "2": "new_frame\n    at a.py:2", "3": "b_frame"}
    doc = document("tr-1", [a, b], [(a[0], b[0]), (b[0], a[0])], traces, frames)
    doc["captured_at_ns"] = at
    proc = ingest_document(doc, source="test")
    result = service.cycle_result(resolve_scope(proc.snapshot_id))
    assert result["traces"] == {
        a[0]: [
            {
                "at_ns": at,
                "duration_us": 1_000,
                "frame_count": 2,
                "frames": ["new_frame\n    at a.py:2", "old_frame\n    at a.py:1"],
            }
        ],
        b[0]: [{"at_ns": at, "duration_us": 9, "frame_count": 1, "frames": ["b_frame"]}],
    }
