"""Formatting of snapshot numbers as text: durations, timestamps. Plain
functions, used by the template filters (snapshots/templatetags/peeps.py)
and by the text exports."""

from datetime import UTC, datetime

NS_PER_US = 1_000
NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000


def as_int(value):
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def format_duration_ns(ns):
    """A compact human duration: 840ns, 12.5µs, 312ms, 5.20s, 42.0s, 3m 07s, 2h 05m, 3d 04h."""
    ns = as_int(ns)
    if ns is None:
        return ""
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < NS_PER_US:
        return f"{sign}{ns}ns"
    if ns < NS_PER_MS:
        return f"{sign}{ns / NS_PER_US:.3g}µs"
    if ns < NS_PER_S:
        return f"{sign}{ns / NS_PER_MS:.3g}ms"
    s = ns / NS_PER_S
    if s < 60:
        return f"{sign}{s:.2f}s" if s < 10 else f"{sign}{s:.1f}s"
    s = int(s)
    if s < 3600:
        return f"{sign}{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{sign}{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{sign}{s // 86400}d {s % 86400 // 3600:02d}h"


def format_ns_datetime(value):
    """A Unix-ns timestamp as UTC text with milliseconds."""
    ns = as_int(value)
    if ns is None:
        return ""
    try:
        dt = datetime.fromtimestamp(ns / NS_PER_S, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return str(ns)
    return dt.strftime("%Y-%m-%d %H:%M:%S.") + f"{dt.microsecond // 1000:03d} UTC"
