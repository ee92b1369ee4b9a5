"""The one way the server pauses Python's cyclic garbage collector."""

import gc
from contextlib import contextmanager


@contextmanager
def paused_gc():
    """Pause the cyclic garbage collector around a bulk phase (ingest, the
    cycle finder), then restore it as it was.

    Those phases allocate hundreds of thousands of small objects (rows,
    tuples, strings) that form no reference cycles; each allocation burst
    makes the collector traverse everything alive again. Reference counting
    still frees all of it. The pause is process-wide, for the seconds of
    one computation. Measured on 1,000,000 edges (bench/cycles.py): the
    finder's fetch 3x and its id mapping 1.6x slower with the collector
    running."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
