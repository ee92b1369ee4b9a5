"""peepsweb's Python client: pure standard library, no Django.

- `peepsweb-run python app.py ...` (`peepsweb_client.run`): runs a program
  unchanged with every event loop instrumented (`peepsweb_client.autoinstall`);
- `SnapshotBuilder` builds a snapshot body (SNAPSHOT_FORMAT.md v1);
- `check_document` / `ValidationError`: the contract's validation rules,
  the very ones the server applies;
- `Pusher` / `post_snapshot`: upload, in the background or synchronously;
- `peepsweb_client.aio`: asyncio instrumentation in code (`install()`,
  `snapshot()`);
- `peepsweb_client.agent`: answers the server's "Jump to now" requests;
- `python -m peepsweb_client run|push|demo`: the command line.

The names below are imported on first use: `peepsweb-run` loads this
package into every Python process it starts, most of which need none of it.
"""

import importlib

_EXPORTS = {
    "SnapshotBuilder": "builder",
    "format_frame": "builder",
    "Pusher": "push",
    "PushError": "push",
    "post_snapshot": "push",
    "DEFAULT_LIMITS": "validate",
    "CheckedDocument": "validate",
    "Limits": "validate",
    "ValidationError": "validate",
    "check_document": "validate",
}

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

TYPE_CHECKING = False
if TYPE_CHECKING:
    from peepsweb_client.builder import SnapshotBuilder, format_frame
    from peepsweb_client.push import Pusher, PushError, post_snapshot
    from peepsweb_client.validate import (
        DEFAULT_LIMITS,
        CheckedDocument,
        Limits,
        ValidationError,
        check_document,
    )


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'peepsweb_client' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"peepsweb_client.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
