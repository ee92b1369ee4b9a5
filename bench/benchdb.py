"""Django for a benchmark script: settings, a database, the tables.

With DATABASE_URL the benchmark uses that database (e.g. under
`scripts/pg run`); without it, a SQLite file in a temp dir that is removed
when the run ends (hundreds of MB for the big snapshots)."""

import atexit
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def setup_django(name):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peepsweb.settings")
    if not os.environ.get("DATABASE_URL"):
        tmp = tempfile.mkdtemp(prefix=f"peepsweb-bench-{name}-")
        atexit.register(shutil.rmtree, tmp, ignore_errors=True)
        os.environ["SQLITE_PATH"] = str(Path(tmp) / "bench.sqlite3")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def median_times(fns, repeat):
    """Median wall time of each function. The functions run in turn within
    each round, so that load from elsewhere on the machine hits all alike."""
    for fn in fns:
        fn()  # warm caches (SQLite pages, PostgreSQL plans and buffers)
    times = [[] for _ in fns]
    for _ in range(repeat):
        for fn, spent in zip(fns, times, strict=True):
            start = time.perf_counter()
            fn()
            spent.append(time.perf_counter() - start)
    return [statistics.median(spent) for spent in times]
