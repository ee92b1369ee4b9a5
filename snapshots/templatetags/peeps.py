"""Template filters for snapshot data: ns timestamps as ages, durations,
state-class badges, pretty JSON. Everything returns plain text (autoescaped
by the template) or renders a small template; nothing here marks snapshot
data safe."""

import functools
import json
import time
from urllib.parse import quote

from django import template
from django.http import QueryDict
from django.urls import reverse
from django.utils.http import urlencode

from snapshots.cycles.explain import display_name, one_line
from snapshots.cycles.finder import NodeInfo
from snapshots.pages.formatting import (
    NS_PER_S,
    NS_PER_US,
    as_int,
    format_duration_ns,
    format_ns_datetime,
)
from snapshots.pages.traces import frame_parts
from snapshots.states import STATE_CLASSES, state_class

register = template.Library()


@register.filter
def duration_ns(value):
    return format_duration_ns(value)


@register.filter
def duration_us(value):
    us = as_int(value)
    return "" if us is None else format_duration_ns(us * NS_PER_US)


@register.filter
def duration_s(value):
    try:
        return format_duration_ns(int(float(value) * NS_PER_S))
    except (TypeError, ValueError, OverflowError):
        return ""


@register.filter
def ago_ns(value, now_ns=None):
    """How long before now (or before `now_ns`) a Unix-ns timestamp lies: '5.2s ago'."""
    ns = as_int(value)
    if ns is None:
        return ""
    ref = as_int(now_ns) if now_ns not in (None, "") else time.time_ns()
    if ref is None:
        return ""
    delta = ref - ns
    if delta < 0:
        return f"in {format_duration_ns(-delta)}"
    return f"{format_duration_ns(delta)} ago"


@register.filter
def age_at(value, ref_ns):
    """Age of a Unix-ns timestamp at a reference time (the capture): '12.0s'."""
    ns, ref = as_int(value), as_int(ref_ns)
    if ns is None or ref is None:
        return ""
    return format_duration_ns(ref - ns)


@register.filter
def ns_datetime(value):
    """A Unix-ns timestamp as UTC text with milliseconds."""
    return format_ns_datetime(value)


@register.filter
def pretty_json(value):
    """Nested attrs as indented JSON text (escaped by the template)."""
    try:
        return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        return str(value)


@register.filter
def is_scalar(value):
    return value is None or isinstance(value, (str, int, float, bool))


@register.filter(name="state_class")
def state_class_filter(raw):
    return state_class(raw)


@register.filter
def css_state(cls):
    """A state class usable in a CSS class name; anything unexpected is 'unknown'."""
    return cls if cls in STATE_CLASSES else "unknown"


@register.filter
def percent(part, whole):
    part, whole = as_int(part), as_int(whole)
    if not whole or part is None:
        return 0
    return round(100 * part / whole, 2)


@register.filter
def get_item(mapping, key):
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.inclusion_tag("pages/_state_badge.html")
def state_badge(raw_state, cls=None):
    """The raw state as text, coloured by its normalized class."""
    if not cls:
        cls = state_class(raw_state)
    return {"raw": raw_state, "cls": css_state(cls)}


@register.simple_tag(takes_context=True)
def frame(context, text, frame_id=None):
    """One pending-trace frame, rendered with pages/_frame.html: the function,
    "at file:line", the source line under it (SNAPSHOT_FORMAT.md v1.1) and
    anything else as it is, each capped; `text` None: the frame is missing
    from the snapshot. Rendered once per distinct text per page: the
    backtraces page shows a frame in the tree and in every group holding it,
    and a template render costs ten times a plain {{ text }}."""
    done = context.render_context.setdefault("peeps_frames", {})
    html = done.get((text, frame_id))
    if html is None:
        parts = {"missing": True, "frame_id": frame_id} if text is None else frame_parts(text)
        template = context.template.engine.get_template("pages/_frame.html")
        html = done[(text, frame_id)] = template.render(context.new(parts))
    return html


@register.inclusion_tag("pages/_state_bar.html")
def state_bar(counts, wide=False):
    """Counts by state class ({class: n}) as a compact stacked bar."""
    counts = counts or {}
    total = sum(n for n in counts.values() if isinstance(n, int))
    segments = [
        {"cls": cls, "count": counts.get(cls, 0), "pct": percent(counts.get(cls, 0), total)}
        for cls in STATE_CLASSES
        if counts.get(cls)
    ]
    return {"segments": segments, "total": total, "wide": wide}


@register.simple_tag(takes_context=True)
def query_with(context, **changes):
    """The current query string with some parameters replaced (None or ""
    removes one); `page` is dropped whenever a filter or the sort changes.
    Returned as text, so the template escapes the & separators."""
    request = context.get("request")
    params = request.GET.copy() if request is not None else QueryDict(mutable=True)
    if any(k != "page" for k in changes):
        params.pop("page", None)
    for key, value in changes.items():
        params.pop(key, None)
        if value not in (None, ""):
            params[key] = value
    return params.urlencode()


@register.simple_tag(takes_context=True)
def sort_link(context, key):
    """Query string that sorts by `key`, flipping direction when it already
    sorts by it."""
    current = context.get("sort") or ""
    new = f"-{key}" if current == key else key
    return query_with(context, sort=new)


@register.inclusion_tag("pages/_sort_th.html", takes_context=True)
def sort_th(context, key, title, numeric=False):
    """A sortable column header: a plain link (works without JS) that htmx
    follows into the table's container."""
    current = context.get("sort") or ""
    direction = "ascending" if current == key else "descending" if current == f"-{key}" else ""
    return {
        "qs": sort_link(context, key),
        "title": title,
        "numeric": numeric,
        "direction": direction,
    }


@register.filter
def compact_json(value):
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError):
        return str(value)


# RFC 3986 sub-delims plus what a path segment may hold unescaped: the same
# set Django's reverse() leaves alone, so both spell a node URL alike.
_PATH_SAFE = "!$&'()*+,;=/~:@"


def node_path(scope_key, node_id):
    """The inspector URL of a node (what reverse("pages:node") gives, built
    without a reverse() per table row). Node ids are free text after their
    second colon; a '.' or '..' path segment in one would be resolved away by
    the browser (even percent-encoded), so such ids use the ?id= form."""
    if any(part in (".", "..") for part in node_id.split("/")):
        return reverse("pages:node_query", args=[scope_key]) + "?" + urlencode({"id": node_id})
    return _nodes_prefix(str(scope_key)) + quote(node_id, safe=_PATH_SAFE) + "/"


@functools.lru_cache(maxsize=256)
def _nodes_prefix(scope_key):
    return reverse("pages:node", args=[scope_key, "-"])[:-2]


@register.simple_tag
def node_url(scope_key, node_id):
    return node_path(scope_key, node_id)


def _plural(n, word):
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def edge_attr_words(attrs, this, outgoing, dst_kind=""):
    """The known attrs of a `needs` edge (SNAPSHOT_FORMAT.md, "Edges of
    asyncio programs") as words for a row of the inspector's lists, read
    after the other end's name: in "Needs" the row is what `this` waits on,
    in "Needed by" who waits on `this`. "" when no known attr is set.

    lock account_a, Needs:      [task transfer_b_to_a] holds account_a
    task transfer_b_to_a, Needed by: [lock account_a] held by transfer_b_to_a
    """
    if not isinstance(attrs, dict):
        return ""

    def get(key, kind):
        value = attrs.get(key)
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        return value if ok else None

    words = []
    permits = get("permits", int)
    if attrs.get("held") is True:
        if permits is not None:
            held = _plural(permits, "permit") + f" of {this}"
            words.append(f"holds {held}" if outgoing else f"{held} held by {this}")
        else:
            words.append(f"holds {this}" if outgoing else f"held by {this}")
    op = get("op", str)
    if op:
        # The waiter is the edge's src: `this` in "Needs", the row in "Needed by".
        it = "it" if outgoing else this
        action = {
            "put": f"waits to put an item into {it}",
            "get": f"waits for an item from {it}",
            "wait": f"waits for {it} to be set"
            if dst_kind == "event"
            else f"waits on {it} to be notified",
            "acquire": f"waits for the lock of {it}",
        }.get(op, f"{one_line(op)} on {it}")
        words.append(f"{this} {action}" if outgoing else action)
    queue, role = get("queue", str), get("role", str)
    if queue in ("full", "empty") or role in ("consumer", "producer"):
        role = role or ("consumer" if queue == "full" else "producer")
        todo = "take an item" if role == "consumer" else "put an item"
        fill = f" is {queue} and" if queue in ("full", "empty") else ""
        if outgoing:
            words.append(f"recent {role}: {this}{fill} needs it to {todo}")
        else:
            words.append(f"{fill.strip()} needs {this}, a recent {role}, to {todo}".strip())
        count = get("recent_count", int)
        if count is not None and count > 1:
            words[-1] += f" (one of {count:,})"
    return "; ".join(words)


@register.simple_tag(takes_context=True)
def edge_words(context, edge):
    """edge_attr_words for a row of pages/_edge_list.html, about the page's `node`."""
    node = context.get("node")
    if node is None:
        return ""
    attrs = node.attrs if isinstance(node.attrs, dict) else {}
    this = display_name(
        NodeInfo(node_id=node.node_id, kind=node.kind, label=node.label or "", attrs=attrs)
    )
    outgoing = edge.get("src") == node.node_id
    dst_kind = (edge.get("other") or {}).get("kind") if outgoing else node.kind
    return edge_attr_words(edge.get("attrs"), this, outgoing, dst_kind or "")
