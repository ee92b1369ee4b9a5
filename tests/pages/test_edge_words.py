"""The inspector's needs / needed-by lists say what known edge attrs mean
(held, permits, op, queue full/empty with role) in words, with the raw
attrs still one click away."""

import re

from peepsweb_client.builder import SnapshotBuilder

from snapshots.ingest import ingest_document
from snapshots.templatetags.peeps import edge_attr_words


def shop():
    """The client's view of: producer holds lock db and waits on the full
    queue jobs, whose consumer waits for db; two workers hold permits of pool."""
    b = SnapshotBuilder("shop", pid=77)
    producer = b.task(1, "producer", state="pending")
    consumer = b.task(2, "consumer", state="pending")
    worker = b.task(3, "worker", state="pending")
    jobs = b.node("queue", "jobs", name="jobs", size=8, maxsize=8, full=True)
    db = b.node("lock", "db", name="db")
    pool = b.node("semaphore", "pool", name="pool", permits_total=2)
    ready = b.node("event", "ready", name="ready")
    b.needs(producer, jobs, op="put")
    b.needs(jobs, consumer, queue="full", role="consumer", recent_count=2)
    b.needs(consumer, db, op="acquire")
    b.needs(db, producer, held=True)
    b.needs(pool, worker, held=True, permits=2)
    b.needs(worker, ready, op="wait")
    return ingest_document(b.build(captured_at_ns=1763772000000000000))


def rows(html, heading):
    """The text of each row of one edge list (tags dropped, spaces squeezed)."""
    section = html[html.index(f'id="{heading}"') :]
    section = section[: section.index("</section>")]
    items = re.findall(r"<li>(.*?)</li>", section, re.S)
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", i)).strip() for i in items]


def page(client, proc, node_id):
    return client.get(f"/snapshots/{proc.snapshot_id}/nodes/{node_id}/").content.decode()


def test_a_locks_holder_reads_holds_the_lock(client, db):
    proc = shop()
    html = page(client, proc, "lock:shop-77:db")
    [row] = rows(html, "h-needs")
    assert "producer" in row and "holds db" in row
    # the raw attrs are still there, behind a disclosure
    assert '<details class="edge-attrs">' in html
    assert "{&quot;held&quot;:true}" in html


def test_the_holder_sees_what_it_holds_and_who_waits(client, db):
    proc = shop()
    html = page(client, proc, "task:shop-77:1")
    [held] = rows(html, "h-needed-by")
    assert held.startswith("lock db") and "held by producer" in held
    [put] = rows(html, "h-needs")
    assert "queue jobs" in put and "producer waits to put an item into it" in put


def test_a_full_queue_names_its_recent_consumer(client, db):
    proc = shop()
    [row] = rows(page(client, proc, "queue:shop-77:jobs"), "h-needs")
    assert "recent consumer: jobs is full and needs it to take an item (one of 2)" in row
    [row] = rows(page(client, proc, "task:shop-77:2"), "h-needed-by")
    assert "is full and needs consumer, a recent consumer, to take an item" in row


def test_permits_and_waits_on_events_are_words():
    assert edge_attr_words({"held": True, "permits": 2}, "pool", True) == "holds 2 permits of pool"
    assert edge_attr_words({"held": True, "permits": 1}, "w", False) == "1 permit of w held by w"
    assert edge_attr_words({"op": "wait"}, "w", True, "event") == "w waits for it to be set"
    assert edge_attr_words({"op": "wait"}, "c", False, "condition") == "waits on c to be notified"
    assert edge_attr_words({"op": "get"}, "jobs", False, "queue") == "waits for an item from jobs"


def test_unknown_or_hostile_attrs_say_nothing_or_are_escaped(client, db):
    assert edge_attr_words({"weight": 3}, "x", True) == ""
    assert edge_attr_words({"held": "yes", "permits": True}, "x", True) == ""
    assert edge_attr_words(["held"], "x", True) == ""
    b = SnapshotBuilder("evil", pid=1)
    t = b.task(1, "t")
    q = b.node("queue", "q", name="<b>q</b>")
    b.needs(t, q, op="<script>alert(1)</script>")
    proc = ingest_document(b.build(captured_at_ns=1763772000000000000))
    html = page(client, proc, "task:evil-1:1")
    assert "<script>alert(1)" not in html
    assert "t &lt;script&gt;alert(1)&lt;/script&gt; on it" in html
