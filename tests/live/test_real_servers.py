"""Live updates end to end: real daphne processes, a real browser, agents
speaking the real protocol (peepsweb_client.agent), and Redis between two
servers."""

import json
import re
import time
import urllib.request

from peepsweb_client.agent import Agent

from snapshots.models import Agent as AgentRow
from snapshots.models import ProcessSnapshot, Snapshot
from tests.live.servers import not_reloaded, open_live, post
from tests.support.examples import read_example


def agent_for(server, name):
    doc = read_example(name)

    def snapshot(timeout, snapshot_id):
        return read_example(name)

    agent = Agent(
        server.url,
        process=doc["process"],
        pid=doc["pid"],
        proc_key=doc["proc_key"],
        snapshot=snapshot,
    ).start()
    assert agent.wait_welcomed(10), agent.last_error
    return agent


def stop(agents):
    """Stop test agents and wait until their servers have seen them go (a
    server stopped in the middle of that waits 10 s for it)."""
    for agent in agents:
        agent.stop()
    keys = [agent.hello["proc_key"] for agent in agents]
    deadline = time.monotonic() + 10
    while agent_rows(keys) and time.monotonic() < deadline:
        time.sleep(0.05)


def agent_rows(keys):
    return AgentRow.objects.filter(proc_key__in=keys).exists()


def test_a_new_snapshot_appears_in_an_open_list_without_reload(daphne_server, browser_page):
    server = daphne_server()
    first = post(server, read_example("rpc_backend"))
    open_live(browser_page, server.url + "/")
    assert browser_page.locator(f"#snapshot-{first}").count() == 1

    second = post(server, read_example("rpc_frontend"))

    row = browser_page.wait_for_selector(f"#snapshot-{second}")
    assert "frontend-100" in row.inner_text()
    assert browser_page.locator("#snapshot-rows tr").count() == 2
    assert not_reloaded(browser_page)


def test_the_live_view_refreshes_counts_and_task_rows(daphne_server, browser_page):
    server = daphne_server()
    post(server, read_example("rpc_backend"))
    open_live(browser_page, server.url + "/snapshots/live/tasks/")
    assert "persona-scheduler-777" not in browser_page.inner_text("#task-table")

    post(server, read_example("taskgraph_workflow"))

    browser_page.wait_for_function(
        "document.querySelector('#task-table').innerText.includes('persona-scheduler')"
    )
    assert not_reloaded(browser_page)

    # A filtered table is not the broadcast one: it re-reads its own rows.
    open_live(browser_page, server.url + "/snapshots/live/tasks/?process=lock-demo-4242")
    assert "lock-demo-4242" not in browser_page.inner_text("#task-table")
    post(server, read_example("mutex_lock_order_inversion"))
    browser_page.wait_for_function(
        "document.querySelector('#task-table').innerText.includes('lock-demo-4242')"
    )
    assert "persona-scheduler-777" not in browser_page.inner_text("#task-table")
    assert not_reloaded(browser_page)

    open_live(browser_page, server.url + "/snapshots/live/")
    before = browser_page.inner_text("#overview-body")
    post(server, read_example("channel_full_stall"))
    browser_page.wait_for_function(
        "document.querySelector('#overview-body').innerText.includes('channel-full-stall-3111')"
    )
    assert browser_page.inner_text("#overview-body") != before
    assert not_reloaded(browser_page)


def test_a_pinned_page_stays_put_and_follow_latest_jumps(daphne_server, browser_page):
    server = daphne_server()
    pinned = post(server, read_example("rpc_backend"))
    newer = post(server, read_example("rpc_frontend"))
    # Opening an older snapshot on purpose stays there, even when following.
    browser_page.goto(server.url + "/")
    browser_page.evaluate("sessionStorage.setItem('peepsweb.follow', '1')")
    open_live(browser_page, f"{server.url}/snapshots/{pinned}/tasks/")
    assert browser_page.is_checked("#live-follow")
    browser_page.uncheck("#live-follow")

    newest = post(server, read_example("channel_full_stall"))
    # Every page hears of `newest`: this one has, and stayed.
    browser_page.wait_for_selector(f'#live-status[data-latest="{newest}"]')
    assert browser_page.url.endswith(f"/snapshots/{pinned}/tasks/")
    assert not_reloaded(browser_page)

    # Following catches up at once, then goes to each new snapshot.
    browser_page.check("#live-follow")
    browser_page.wait_for_url(f"{server.url}/snapshots/{newest}/tasks/")
    latest = post(server, read_example("taskgraph_workflow"))
    browser_page.wait_for_url(f"{server.url}/snapshots/{latest}/tasks/")
    assert pinned < newer < newest < latest
    assert browser_page.is_checked("#live-follow")


def test_the_indicator_shows_when_the_socket_is_down(daphne_server, browser_page):
    server = daphne_server()
    open_live(browser_page, server.url + "/")
    assert browser_page.get_attribute("#live-status", "title") == "Live updates: live"

    server.stop()

    # "down" lasts only until the next attempt (0.25 s at first), so the
    # state and its text are read together, in the page.
    browser_page.wait_for_function(
        """() => {
            const status = document.querySelector("#live-status");
            return status.dataset.state === "down"
                && /offline, retrying in \\d+ s/.test(status.textContent);
        }"""
    )


def test_jump_now_in_the_header_makes_one_snapshot_of_two_agents(daphne_server, browser_page):
    server = daphne_server()
    agents = [agent_for(server, "rpc_frontend"), agent_for(server, "rpc_backend")]
    try:
        open_live(browser_page, server.url + "/agents/")
        assert "frontend-100" in browser_page.inner_text("#agents-table")

        browser_page.click("text=Jump to now")
        result = browser_page.wait_for_selector("#jump-result a")
    finally:
        stop(agents)

    snapshot = Snapshot.objects.get(kind=Snapshot.PULL)
    assert re.search(rf"#{snapshot.id}: 2/2 responded", result.inner_text())
    assert snapshot.status == Snapshot.COMPLETE
    assert sorted(snapshot.processes.values_list("proc_key", "status")) == [
        ("backend-200", ProcessSnapshot.RESPONDED),
        ("frontend-100", ProcessSnapshot.RESPONDED),
    ]
    # The agents page followed the agents leaving.
    browser_page.wait_for_function(
        "document.querySelector('#agents-table').innerText.includes('No agent is connected')"
    )


def test_a_snapshot_posted_to_one_server_updates_a_browser_on_another(
    redis_server, daphne_server, browser_page
):
    a = daphne_server(env={"REDIS_URL": redis_server})
    b = daphne_server(env={"REDIS_URL": redis_server})
    open_live(browser_page, b.url + "/")

    snapshot_id = post(a, read_example("taskgraph_workflow"))

    row = browser_page.wait_for_selector(f"#snapshot-{snapshot_id}")
    assert "persona-scheduler-777" in row.inner_text()
    assert not_reloaded(browser_page)


def test_jump_now_on_one_server_reaches_agents_connected_to_another(redis_server, daphne_server):
    a = daphne_server(env={"REDIS_URL": redis_server})
    b = daphne_server(env={"REDIS_URL": redis_server})
    agents = [agent_for(a, "rpc_frontend"), agent_for(b, "rpc_backend")]
    try:
        request = urllib.request.Request(
            b.url + "/api/v1/jump-now",
            data=b'{"timeout_ms": 5000}',
            headers={"Content-Type": "application/json", "Authorization": "Bearer any"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            body = json.loads(response.read())
    finally:
        stop(agents)

    assert (body["requested"], body["responded"], body["timed_out"]) == (2, 2, 0)
    assert {p["proc_key"] for p in body["processes"]} == {"frontend-100", "backend-200"}


def test_every_server_lists_an_agent_connected_to_any_of_them(daphne_server):
    # No Redis here: the list lives in the database, not in a server's memory.
    a = daphne_server()
    b = daphne_server()
    agent = agent_for(a, "rpc_backend")
    try:
        with urllib.request.urlopen(b.url + "/api/v1/agents", timeout=10) as response:
            listed = json.loads(response.read())["agents"]
    finally:
        stop([agent])

    assert [x["proc_key"] for x in listed] == ["backend-200"]
