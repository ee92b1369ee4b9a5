""" "What is it waiting on" on the tables: the task table names each task's
first needs target, its kind and who holds it; the locks and semaphores
tables name their holders and waiters. A bounded number of queries per page,
not one per row."""

import re

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.pages.conftest import document, task

KEY = "bank-1"


def tid(i):
    return f"task:{KEY}:{i}"


def bank_document():
    """Tasks waiting on a lock held with `held: true`, on a Rust-style lock
    (its edge to the holder has no attrs), on a semaphore with two holders
    and five waiters, on three things at once, on a node of another process,
    and on nothing."""
    lock_a = {"id": f"lock:{KEY}:account_a", "kind": "lock", "label": "account_a"}
    lock_b = {"id": f"lock:{KEY}:account_b", "kind": "lock", "label": "account_b"}
    pool = {"id": f"semaphore:{KEY}:pool", "kind": "semaphore", "label": "pool"}
    futures = [{"id": f"future:{KEY}:{i}", "kind": "future", "label": f"f{i}"} for i in (1, 2, 3)]
    tasks = [task(KEY, i, name) for i, name in enumerate(
        ["transfer_a", "holder_a", "transfer_b", "holder_b", "gather", "caller", "idle",
         "permit_1", "permit_2", "w1", "w2", "w3", "w4", "w5"], start=1)]  # fmt: skip
    doc = document(
        KEY,
        [lock_a, lock_b, pool, *futures, *tasks],
        edges=[
            (tid(1), lock_a["id"]),
            (tid(3), lock_b["id"]),
            (lock_b["id"], tid(4)),  # held, by convention
            (tid(5), futures[1]["id"]),
            (tid(5), futures[0]["id"]),
            (tid(5), futures[2]["id"]),
            (tid(6), "request:other-9:c:1"),  # another process
            *[(tid(i), pool["id"]) for i in range(10, 15)],
        ],
    )
    doc["edges"] += [
        {"src_id": lock_a["id"], "dst_id": tid(2), "kind": "needs", "attrs": {"held": True}},
        *[
            {"src_id": pool["id"], "dst_id": tid(i), "kind": "needs", "attrs": {"held": True}}
            for i in (8, 9)
        ],
    ]
    return doc


def cells(html, table_id, column):
    """{first cell text: the text of `column` (a header title)} of a table,
    tags stripped and spaces squeezed."""
    table = re.search(rf'<table class="data" id="{table_id}">(.*?)</table>', html, re.S).group(1)
    heads = [squeeze(h) for h in re.findall(r"<th[^>]*>(.*?)</th>", table, re.S)]
    at = heads.index(column)
    out = {}
    for tr in re.findall(r"<tr id=[^>]*>(.*?)</tr>", table, re.S):
        tds = [squeeze(td) for td in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)]
        out[tds[0 if table_id == "nodes" else 1].split(" ⟳")[0]] = tds[at]
    return out


def squeeze(html):
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def test_the_task_table_names_what_each_task_waits_on_and_who_holds_it(client, ingest):
    snapshot = ingest(bank_document())
    html = client.get(reverse("pages:tasks", args=[snapshot])).content.decode()
    waits = cells(html, "tasks", "waits on")
    assert waits["transfer_a"] == "lock account_a held by holder_a"
    assert waits["transfer_b"] == "lock account_b held by holder_b"
    assert waits["w1"] == "semaphore pool held by permit_1 +1 more"
    assert waits["gather"] == "future f2 +2 more"  # the first edge the sender listed
    assert waits["caller"] == "request:other-9:c:1"  # not in this snapshot: its id
    assert waits["idle"] == ""
    assert f'href="/snapshots/{snapshot}/nodes/lock:{KEY}:account_a/"' in html
    assert f'href="/snapshots/{snapshot}/nodes/task:{KEY}:2/"' in html


def test_the_locks_and_semaphores_tables_name_holders_and_waiters(client, ingest):
    snapshot = ingest(bank_document())
    html = client.get(reverse("pages:kind", args=[snapshot, "locks"])).content.decode()
    assert cells(html, "nodes", "held by") == {"account_a": "holder_a", "account_b": "holder_b"}
    assert cells(html, "nodes", "waited on by") == {
        "account_a": "transfer_a", "account_b": "transfer_b"
    }  # fmt: skip
    html = client.get(reverse("pages:kind", args=[snapshot, "semaphores"])).content.decode()
    assert cells(html, "nodes", "held by") == {"pool": "permit_1 , permit_2"}
    assert cells(html, "nodes", "waited on by") == {"pool": "w1 , w2 , w3 +2 more"}


def crowd_document(n):
    """n tasks, each waiting on its own lock held by its own task, and n
    more waiting on one lock held by n tasks (a semaphore-like crowd)."""
    key = "crowd-1"
    nodes, edges = [], []
    for i in range(n):
        lock = f"lock:{key}:l{i}"
        nodes += [task(key, 2 * i, f"waiter{i}"), task(key, 2 * i + 1, f"holder{i}")]
        nodes.append({"id": lock, "kind": "lock", "label": f"l{i}"})
        waiter, holder, big = f"task:{key}:{2 * i}", f"task:{key}:{2 * i + 1}", f"lock:{key}:big"
        edges += [(waiter, lock), (lock, holder), (waiter, big), (big, holder)]
    nodes.append({"id": f"lock:{key}:big", "kind": "lock", "label": "big"})
    return document(key, nodes, edges)


def count_queries(client, url):
    client.get(url)  # warm the caches (cycle report, state menu)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_naming_costs_the_same_queries_for_5_or_250_waiters(client, ingest):
    small, big = ingest(crowd_document(5)), ingest(crowd_document(250))
    for page, args in (("tasks", ()), ("kind", ("locks",))):
        url = "?per_page=500"
        n_small = count_queries(client, reverse(f"pages:{page}", args=[small, *args]) + url)
        n_big = count_queries(client, reverse(f"pages:{page}", args=[big, *args]) + url)
        assert n_small == n_big, page
    html = client.get(reverse("pages:kind", args=[big, "locks"]) + "?q=big").content.decode()
    assert cells(html, "nodes", "held by") == {"big": "holder0 , holder1 , holder2 +247 more"}
    assert cells(html, "nodes", "waited on by") == {"big": "waiter0 , waiter1 , waiter2 +247 more"}
