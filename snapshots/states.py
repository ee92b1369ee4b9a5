"""Task states: shown raw, and mapped to a normalized class for colour,
filters and counts (the table in SNAPSHOT_FORMAT.md)."""

STATE_CLASSES = ["running", "runnable", "waiting", "done", "failed", "skipped", "unknown"]

_CLASS_OF_STATE = {
    state: cls
    for cls, states in {
        "running": ("polling", "running", "in_progress"),
        "runnable": ("scheduled", "queued", "ready", "throttled"),
        "waiting": ("pending", "waiting", "sleeping", "blocked", "idle"),
        "done": ("completed", "finished", "succeeded", "ok"),
        "failed": ("failed", "aborted", "cancelled", "canceled", "error", "timeout", "panicked"),
        "skipped": ("skipped",),
    }.items()
    for state in states
}


def state_class(raw):
    """The normalized class of a raw task state (case-insensitive)."""
    if not isinstance(raw, str):
        return "unknown"
    return _CLASS_OF_STATE.get(raw.strip().lower(), "unknown")
