"""The diff page (/snapshots/{a}/diff/{b}/) and the compare redirect
(/snapshots/{id}/compare/?with=): the same content as the diff API, one
section per list, each with an htmx "show more"."""

from django.http import Http404
from django.shortcuts import redirect, render

from snapshots import queries
from snapshots.diffs import diff as diffs
from snapshots.pages.traces import readable_attrs
from snapshots.pages.views.common import render_page, scoped_page
from snapshots.scope import ScopeNotFound, resolve_scope

PER_PAGE = 50
TITLES = {
    "nodes_added": "Nodes added",
    "nodes_removed": "Nodes removed",
    "nodes_changed": "Nodes changed",
    "edges_added": "Needs edges added",
    "edges_removed": "Needs edges removed",
    "cycles_appeared": "Cycles appeared",
    "cycles_resolved": "Cycles resolved",
}


def _other(key):
    try:
        return resolve_scope(key)
    except ScopeNotFound:
        raise Http404(f"No snapshot {key!r}: it may have been pruned.") from None


@scoped_page
def diff_page(request, other):
    a, b = request.snapshot_scope, _other(other)
    section = request.GET.get("section") or None
    try:
        if section is not None and section not in diffs.SECTIONS:
            raise queries.QueryError("section", f"unknown section {section!r}")
        page, _ = queries._check_page(request.GET.get("page"), PER_PAGE)
    except queries.QueryError as e:
        return render(request, "pages/bad_request.html", {"error": e}, status=400)
    d = diffs.diff(a, b)
    sections = [_section(d, name, page if name == section else 1) for name in diffs.SECTIONS]
    context = {"a": a, "b": b, "sections": sections, "active": "diff"}
    if section is not None and request.htmx:
        # "Show more": only that section's next rows and its next link.
        context["s"] = sections[diffs.SECTIONS.index(section)]
        return render_page(request, "pages/diff.html", context, partial="section-rows")
    return render_page(request, "pages/diff.html", context)


def _section(d, name, page):
    """A section for the template: its rows of `page`, with what each row
    links to (the inspector of the capture that has the node)."""
    kind, _, which = name.partition("_")
    side = d.a if which in ("removed", "resolved") else d.b
    items = d.items(name, page, PER_PAGE)
    if kind == "edges":
        ends = queries.node_briefs(
            side, [e["src_id"] for e in items] + [e["dst_id"] for e in items]
        )
        for e in items:
            e["src"], e["dst"] = ends.get(e["src_id"]), ends.get(e["dst_id"])
    if name == "nodes_changed":
        for item in items:
            item["attr_changes"] = _attr_changes(item["before"], item["after"])
    shown = min(page * PER_PAGE, d.count(name))
    return {
        "name": name,
        "title": TITLES[name],
        "kind": kind,
        "side": side,
        "items": items,
        "total": d.count(name),
        "next_page": page + 1 if shown < d.count(name) else None,
        "remaining": d.count(name) - shown,
    }


def _attr_changes(before, after):
    """The changed attrs of a node, key by key, each side a row as the
    inspector shows it (a time for a *_ns instant, not its nanoseconds), or
    None where that side lacks the key."""
    was, now = before.get("attrs"), after.get("attrs")
    if not isinstance(was, dict) or not isinstance(now, dict):
        return []
    was = {row["key"]: row for row in readable_attrs(was, None)}
    now = {row["key"]: row for row in readable_attrs(now, None)}
    return [{"key": key, "before": was.get(key), "after": now.get(key)} for key in {**was, **now}]


@scoped_page
def compare(request):
    """Redirect to the diff of this scope with `with` (a snapshot id,
    `latest` or `live`), or without it with the previous capture of the same
    process. The earlier snapshot goes first; live is always the later."""
    scope = request.snapshot_scope
    key = request.GET.get("with") or None
    if key is None:
        previous = diffs.previous_snapshot_id(scope)
        if previous is None:
            raise Http404("No earlier capture of this snapshot's process to compare with.")
        return redirect("pages:diff", previous, scope.key)
    other = _other(key.strip())
    first, second = sorted((scope, other), key=_age)
    return redirect("pages:diff", first.key, second.key)


def _age(scope):
    return float("inf") if scope.is_live else int(scope.key)
