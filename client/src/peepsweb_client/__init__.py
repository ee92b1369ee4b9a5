"""peepsweb's Python client: pure standard library, no Django.

- `SnapshotBuilder` builds a snapshot body (SNAPSHOT_FORMAT.md v1);
- `check_document` / `ValidationError`: the contract's validation rules,
  the very ones the server applies;
- `Pusher` / `post_snapshot`: upload, in the background or synchronously;
- `peepsweb_client.aio`: asyncio instrumentation (`install()`, `snapshot()`,
  drop-in Lock/Semaphore/Event/Condition/Queue);
- `peepsweb_client.agent`: answers the server's "Jump to now" requests;
- `python -m peepsweb_client push FILE...` / `... demo`: the command line.
"""

from peepsweb_client.builder import SnapshotBuilder, format_frame
from peepsweb_client.push import Pusher, PushError, post_snapshot
from peepsweb_client.validate import (
    DEFAULT_LIMITS,
    CheckedDocument,
    Limits,
    ValidationError,
    check_document,
)

__all__ = [
    "DEFAULT_LIMITS",
    "CheckedDocument",
    "Limits",
    "PushError",
    "Pusher",
    "SnapshotBuilder",
    "ValidationError",
    "check_document",
    "format_frame",
    "post_snapshot",
]
