"""Inspector URLs built for table rows spell exactly what reverse() gives."""

import pytest
from django.urls import reverse

from snapshots.templatetags.peeps import node_path


@pytest.mark.parametrize(
    "node_id",
    [
        "task:p-1:7",
        "lock:p-1:db pool",
        "task:p-1:a/b",
        "task:p-1:q?x=1#frag&y",
        "task:p-1:50%",
        "task:p-1:ü<>\"'`{}|\\^",
        "mpsc:p-1:work_queue:tx",
        "task:p-1:!$&'()*+,;=~@",
    ],
)
def test_it_matches_reverse(node_id):
    for scope in ("17", "live", "latest"):
        assert node_path(scope, node_id) == reverse("pages:node", args=[scope, node_id])


def test_dot_segments_use_the_query_form():
    assert node_path("3", "task:p-1:a/../b") == "/snapshots/3/node/?id=task%3Ap-1%3Aa%2F..%2Fb"
