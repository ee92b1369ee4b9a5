"""Hostile URL parameters on the pages: NUL bytes, patterns only a
backtracking engine runs, snapshot ids of Unicode digits. Each is a 400 or
404 page, never a 500."""

import pytest
from django.urls import reverse

from tests.pages.conftest import document, task

KEY = "hostile-1"


@pytest.fixture
def snapshot(ingest):
    return ingest(
        document(
            KEY,
            [task(KEY, 1, "accept_loop", "running"), task(KEY, 2, "conn_handler")],
            edges=[(f"task:{KEY}:2", f"task:{KEY}:1")],
            frames={"1": "park\n    at src/x.rs:1:1"},
            pending_traces=[{"task_id": 2, "at_ns": 1, "duration_us": 5, "frame_ids": [1]}],
        )
    )


@pytest.mark.parametrize("page", ["tasks", "kind"])
@pytest.mark.parametrize("param", ["state", "kind", "state_class", "process", "q", "sort"])
def test_a_nul_byte_in_a_table_filter_is_a_400_naming_it(client, snapshot, page, param):
    args = [snapshot] if page == "tasks" else [snapshot, "lock"]
    response = client.get(reverse(f"pages:{page}", args=args), {param: "x\x00y"})
    assert response.status_code == 400
    body = response.content.decode()
    assert f"Bad parameter <code>{param}</code>: {param} must not contain a NUL byte" in body


@pytest.mark.parametrize(
    "url",
    [
        "/snapshots/{s}/nodes/task:hostile-1:1%00/",
        "/snapshots/{s}/node/?id=task:hostile-1:1%00",
        "/snapshots/{s}/traces.txt?node=task:hostile-1:2%00",
        "/snapshots/{s}/graph/?node=task:hostile-1:1%00",
        "/snapshots/{s}/graph/?kind=task%00",
        "/snapshots/{s}/graph/?process=hostile-1%00",
        "/snapshots/{s}/stuck-requests/?older_than=1%00",
        "/snapshots/{s}/cycles/?x=%00",
        "/snapshots/{s}/backtraces/?x=%00",
        "/snapshots/{s}/?x=%00",
    ],
)
def test_a_nul_byte_anywhere_in_a_page_url_is_a_400(client, snapshot, url):
    response = client.get(url.format(s=snapshot))
    assert response.status_code == 400
    assert "NUL byte" in response.content.decode()


def test_a_pattern_re2_cannot_run_is_a_400_that_names_q_and_keeps_the_page(client, snapshot):
    response = client.get(reverse("pages:tasks", args=[snapshot]), {"q": r"/(a)\1/"})
    assert response.status_code == 400
    body = response.content.decode()
    assert "Bad filter <code>q</code>" in body
    assert "q is not a valid regular expression: " in body
    assert "no backreferences or lookaround" in body
    assert 'id="task-filters"' in body


@pytest.mark.parametrize("suffix", ["", "tasks/", "cycles/", "nodes/task:hostile-1:1/"])
def test_a_snapshot_id_of_unicode_digits_is_a_404_page(client, snapshot, suffix):
    # Arabic-Indic digits pass int(): they must not reach the snapshot either.
    arabic_indic = snapshot.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    for scope in ("²", "⑴", "１", arabic_indic):
        assert client.get(f"/snapshots/{scope}/{suffix}").status_code == 404, scope
