"""A job scheduler as a peepsweb snapshot.

A scheduler runs jobs on a few workers. A job can be scheduled (due, not yet
on a worker), running, sleeping until a time (a retry backoff, a cron
tick), waiting for something (another job's output, a lock on a table),
throttled by a rate limit, finished or failed.

Mapping onto the model:

    job                  -> node kind "task"; state is the scheduler's word;
                            sleeping jobs carry wake_at_ns (and wake_at, the
                            same instant as ISO 8601 text); retries in attrs
    worker               -> node kind "worker": it needs the job it runs
                            (a worker is busy until that job is done)
    sleeping until T     -> node kind "timer" (attrs wake_at_ns); the job
                            needs its timer
    rate limit           -> node kind "semaphore" with tokens; a throttled
                            job needs it
    waiting for a job    -> edge job needs the job whose output it wants
    table lock           -> node kind "lock"; its holder job, its waiters
    dispatch             -> wake events: the dispatcher task woke the job

The run includes a real stall: `rebuild_search_index` holds the lock on the
`products` table and waits for `import_catalog`'s output, while
`import_catalog` waits for that same lock: a cycle. The dispatcher also
needs that lock, so a due job stays scheduled while a worker is idle.

    python examples/scheduler.py [--url URL] [--token T] [--print]
"""

import time
from datetime import UTC, datetime

from _common import main
from peepsweb_client import SnapshotBuilder

S = 1_000_000_000


def iso(ns):
    return datetime.fromtimestamp(ns / S, UTC).isoformat().replace("+00:00", "Z")


def build():
    now = time.time_ns()
    b = SnapshotBuilder("job-scheduler", pid=8080)

    def job(jid, name, state, **attrs):
        return b.task(
            jid,
            name,
            state=state,
            spawned_at_ns=now - (3600 - jid * 60) * S,
            queue="default",
            **attrs,
        )

    dispatcher = job(1, "dispatcher", "waiting", kind="scheduler loop")
    send_invoices = job(2, "send_invoices", "running", attempt=1)
    import_catalog = job(3, "import_catalog", "waiting", attempt=1)
    rebuild_index = job(4, "rebuild_search_index", "running", attempt=1)
    sync_crm = job(
        5,
        "sync_crm",
        "sleeping",
        attempt=3,
        max_attempts=5,
        wake_at_ns=now + 90 * S,
        wake_at=iso(now + 90 * S),
        last_error="HTTP 502 from crm.example.com",
    )
    nightly_report = job(6, "nightly_report", "scheduled", due_at=iso(now - 5 * S))
    resize_images = job(7, "resize_images", "throttled", attempt=1)
    fetch_rates = job(8, "fetch_exchange_rates", "throttled", attempt=1)
    job(9, "purge_sessions", "finished", duration_ms=840)
    job(
        10,
        "send_newsletter",
        "failed",
        attempt=5,
        max_attempts=5,
        last_error="SMTP 421: too many connections",
    )

    # Workers need the job they run; a free worker is waiting for work.
    for n, busy in enumerate([send_invoices, rebuild_index, None], start=1):
        worker = b.node(
            "worker", f"w{n}", f"worker {n}", name=f"worker {n}", state="busy" if busy else "idle"
        )
        if busy:
            b.needs(worker, busy)

    timer = b.node(
        "timer",
        "sync_crm-retry",
        "retry sync_crm",
        wake_at_ns=now + 90 * S,
        wake_at=iso(now + 90 * S),
        reason="exponential backoff, attempt 3",
    )
    b.needs(sync_crm, timer)

    limit = b.node(
        "semaphore",
        "rate:external-api",
        "external API rate limit",
        name="external API rate limit",
        permits_total=10,
        permits_available=0,
        refill_per_s=10,
        waiters=2,
    )
    b.needs(resize_images, limit)
    b.needs(fetch_rates, limit)

    # The stall: a lock-order problem across two jobs.
    products = b.node(
        "lock",
        "table:products",
        "products table lock",
        name="products",
        lock_kind="rwlock_write",
        holder_count=1,
        waiter_count=1,
    )
    b.needs(products, rebuild_index, held=True)
    b.needs(import_catalog, products)
    b.needs(rebuild_index, import_catalog, wants="catalog_import output")

    # A due job waits for the dispatcher, which waits for the products lock
    # (it counts products before each dispatch): one stuck lock stalls the
    # whole queue although worker 3 is idle.
    b.needs(nightly_report, dispatcher)
    b.needs(dispatcher, products, reason="dispatching needs a consistent product count")

    for woken in (2, 3, 4, 5):
        b.wake(woken, waker_task_id=1, at_ns=now - (300 - woken * 20) * S, target_worker=0)
    b.wake(6, waker_task_id=None, at_ns=now - 5 * S)  # the cron clock, outside any task

    stuck = [
        ("Lock.acquire_write", "scheduler/locks.py", 57),
        ("CatalogImport.apply", "jobs/catalog.py", 133),
        ("Job.run", "scheduler/job.py", 74),
    ]
    b.pending_trace(3, stuck, duration_us=420 * 1_000_000, at_ns=now)
    b.pending_trace(
        4,
        [
            ("JobOutput.wait", "scheduler/outputs.py", 41),
            ("SearchIndex.rebuild", "jobs/search.py", 96),
            ("Job.run", "scheduler/job.py", 74),
        ],
        duration_us=415 * 1_000_000,
        at_ns=now,
    )
    return b.build(captured_at_ns=now)


if __name__ == "__main__":
    raise SystemExit(main(build, "Post a job scheduler's state to peepsweb."))
