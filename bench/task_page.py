"""Task table PAGE benchmark (issue 3): the HTML task table of a 100,000-task
snapshot (full page and the htmx fragment), side by side with the SQL that
node_page sends for it, run alone through a cursor. Target: page <= 3x SQL.

    .venv/bin/python bench/task_page.py                 # a temp SQLite file
    scripts/pg run .venv/bin/python bench/task_page.py  # a throwaway PostgreSQL

Options: --tasks N (default 100000), --repeat N (default 9, the median is kept).

bench/task_table.py measures the query function (node_page) and the JSON API
the same way; this one adds what the page costs on top: scope resolution, the
filter menus, the last wakers' names, the cycle markers (cached after the
first view, like every snapshot page) and the template. The SQL of each case
is captured while the page renders (connection.execute_wrapper) and only the
statements on the node table are replayed as "SQL alone" (COUNT + the page).
The page's total query count is printed too: it must not grow with the rows.
"""

import argparse
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import task_table  # noqa: E402  (bench/task_table.py: Django setup, the generated snapshot)
from benchdb import median_times  # noqa: E402

CASES = [
    ("default order", ""),
    ("sort -pending_us", "sort=-pending_us"),
    ("sort label", "sort=label"),
    ("sort -age", "sort=-age"),
    ("waiting, -age", "state_class=waiting&sort=-age"),
    ("state=failed, label", "state=failed&sort=label"),
    ("q=handler_7", "q=handler_7&sort=-pending_us"),
    ("q=/^conn_4[0-9]_/", "q=%2F%5Econn_4%5B0-9%5D_%2F"),
    ("page 1000, 100 rows", "sort=task_id&page=1000&per_page=100"),
    ("500 rows", "sort=-age&per_page=500"),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()

    task_table.setup_django("task-page")
    from django.db import connection
    from django.test import Client

    from snapshots.ingest import ingest_document
    from snapshots.models import Snapshot

    print(f"database: {connection.vendor}; generating {args.tasks:,} tasks ...", flush=True)
    doc = task_table.make_doc(args.tasks)
    start = time.perf_counter()
    proc = ingest_document(doc, source="bench")
    print(f"ingested in {time.perf_counter() - start:.1f} s (snapshot {proc.snapshot_id})")
    del doc
    client = Client()
    base = f"/snapshots/{proc.snapshot_id}/tasks/"
    start = time.perf_counter()
    assert client.get(base).status_code == 200
    print(f"first view (computes and caches the cycle report): {time.perf_counter() - start:.2f} s")

    try:
        header = (
            f"{'case':<22} {'rows':>7} {'queries':>7} {'page':>9} {'fragment':>9}"
            f" {'SQL alone':>10} {'ratio':>6}"
        )
        print(header)
        print("-" * len(header))
        worst = 0.0
        for name, query in CASES:
            url = f"{base}?{query}"
            statements = []

            def capture(execute, sql, params, many, context, statements=statements):
                statements.append((sql, params))
                return execute(sql, params, many, context)

            with connection.execute_wrapper(capture):
                response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
            rows = int(re.search(rb'id="task-count">(\d+) task', response.content).group(1))
            node_sql = [(s, p) for s, p in statements if 'FROM "snapshots_node"' in s]

            def run_sql(stmts=node_sql):
                with connection.cursor() as cursor:
                    for sql, p in stmts:
                        cursor.execute(sql, p)
                        cursor.fetchall()

            t_page, t_fragment, t_sql = median_times(
                [
                    lambda u=url: client.get(u),
                    lambda u=url: client.get(u, headers={"HX-Request": "true"}),
                    run_sql,
                ],
                args.repeat,
            )
            ratio = t_page / t_sql
            worst = max(worst, ratio)
            print(
                f"{name:<22} {rows:>7} {len(statements):>7} {t_page * 1000:>7.1f}ms"
                f" {t_fragment * 1000:>7.1f}ms {t_sql * 1000:>8.1f}ms {ratio:>5.2f}x",
                flush=True,
            )
        print(f"worst ratio page / SQL alone: {worst:.2f}x (target <= 3x)")
    finally:
        Snapshot.objects.filter(id=proc.snapshot_id).delete()


if __name__ == "__main__":
    main()
