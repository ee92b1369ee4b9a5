"""The order a capture's nodes are listed in without a sort does not depend
on how the capture is stored (versioned rows or a full write)."""

import pytest
from django.urls import reverse

from tests.api.helpers import get_json
from tests.history.conftest import BASE_NS, S, post, task

pytestmark = pytest.mark.django_db


def page_task_ids(client, snapshot):
    response = client.get(reverse("pages:tasks", args=[snapshot]))
    assert response.status_code == 200
    return [n.task_id for n in response.context["page"].items]


def api_task_ids(client, snapshot):
    body = get_json(client, f"/api/v1/snapshots/{snapshot}/nodes")
    return [n["attrs"]["task_id"] for n in body["nodes"]]


def test_a_versioned_capture_lists_its_tasks_as_a_full_capture_of_them_does(client):
    states = ["pending", "pending", "pending"]
    c1 = post(client, [task(i + 1, s) for i, s in enumerate(states)], [], BASE_NS)
    # Task 1 changes state: c2 shares tasks 2 and 3 with c1 and writes a new
    # version of task 1 (a row stored after theirs).
    states[0] = "running"
    c2 = post(client, [task(i + 1, s) for i, s in enumerate(states)], [], BASE_NS + S)
    # The same content as a first capture of another process: every row written.
    full = post(
        client, [task(i + 1, s, "svc-2") for i, s in enumerate(states)], [], BASE_NS, "svc-2"
    )
    for snapshot in (c1, c2, full):
        assert page_task_ids(client, snapshot) == [1, 2, 3], snapshot
        assert api_task_ids(client, snapshot) == [1, 2, 3], snapshot
