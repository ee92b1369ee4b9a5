"""The difference between two scopes (`a`, the earlier, and `b`).

Everything is read through Scope, so it works on whatever storage is under
it. The comparison reads each side once, as small tuples:

- nodes: (node_id, digest) of every node. The digest is the row's content
  hash that versioned storage keeps (snapshots/versions.py); equal digests
  mean equal rows, so only the nodes whose digest differs are read in full
  (kind, label, state, attrs), by id, to say which fields changed. A digest
  also covers columns the diff does not report (needs counts, last waker,
  pending start): such a node is read and then not listed.
- edges: (src, dst) of the local edges plus the resolved cross-process
  edges; an edge is keyed by its pair (ingest collapses duplicate pairs).
  An edge whose attrs alone changed is not listed.
- cycles: the candidates of the cycle service's cached result for each
  scope, keyed by their sorted members.

Both sides go into dicts keyed by id and the keys are sorted in Python, not
by the database: PostgreSQL sorts text by its collation, Python by code
point, and pages must be stable. Lists are sorted; items of a page are read
in full only for that page.
"""

from dataclasses import dataclass
from itertools import batched

from snapshots import queries
from snapshots.cycles import service
from snapshots.models import Node, ProcessSnapshot
from snapshots.scope import HAS_DATA

SECTIONS = (
    "nodes_added",
    "nodes_removed",
    "nodes_changed",
    "edges_added",
    "edges_removed",
    "cycles_appeared",
    "cycles_resolved",
)
COMPARED = ("kind", "label", "state", "attrs")
MEMBERS_CAP = 100
IN_BATCH = queries.IN_BATCH


@dataclass
class Diff:
    a: object  # Scope, the earlier
    b: object  # Scope, the later
    keys: dict  # section -> sorted keys: node ids, (src, dst), member tuples
    changes: dict  # node id -> (before fields, after fields), changed ones only
    cross: set  # (src, dst) pairs that are resolved cross-process edges, either side
    cycles: dict  # member tuple -> candidate (from b when present there, else a)

    def count(self, section):
        return len(self.keys[section])

    def counts(self):
        return {s: self.count(s) for s in SECTIONS}

    def items(self, section, page=1, per_page=queries.DEFAULT_PER_PAGE):
        """One page of a section as JSON-able dicts (read in full only now)."""
        keys = self.keys[section][(page - 1) * per_page : page * per_page]
        kind, _, which = section.partition("_")
        if kind == "nodes":
            return self._node_items(keys, which)
        if kind == "edges":
            return self._edge_items(keys, self.b if which == "added" else self.a)
        return [self._cycle_item(k) for k in keys]

    def _node_items(self, ids, which):
        scope = self.a if which == "removed" else self.b
        briefs = queries.node_briefs(scope, ids)
        out = []
        for node_id in ids:
            brief = briefs.get(node_id, {})
            item = {
                "id": node_id,
                "kind": brief.get("kind"),
                "label": brief.get("label"),
                "state": brief.get("state"),
                "state_class": brief.get("state_class"),
                "proc_key": brief.get("proc_key"),
            }
            if which == "changed":
                before, after = self.changes[node_id]
                item["before"], item["after"] = before, after
            out.append(item)
        return out

    def _edge_items(self, pairs, scope):
        attrs = _edge_attrs(scope, pairs)
        return [
            {
                "src_id": src,
                "dst_id": dst,
                "attrs": attrs.get((src, dst), {}),
                "cross_process": (src, dst) in self.cross,
            }
            for src, dst in pairs
        ]

    def _cycle_item(self, members):
        c = self.cycles[members]
        return {
            # A cycle can have 100,000 members: the first MEMBERS_CAP by id.
            "members": list(members[:MEMBERS_CAP]),
            "member_count": len(members),
            "cycle": c.get("cycle", [])[:MEMBERS_CAP],
            "severity": c.get("severity"),
            "cross_process": bool(c.get("cross_process")),
        }


def diff(a, b):
    """The Diff from scope `a` to scope `b`."""
    old, new = _node_digests(a), _node_digests(b)
    suspects = [n for n in old.keys() & new.keys() if old[n] != new[n]]
    changes = _changed_fields(a, b, suspects)
    old_edges, old_cross = _edge_keys(a)
    new_edges, new_cross = _edge_keys(b)
    old_cycles, new_cycles = _cycles(a), _cycles(b)
    keys = {
        "nodes_added": sorted(new.keys() - old.keys()),
        "nodes_removed": sorted(old.keys() - new.keys()),
        "nodes_changed": sorted(changes),
        "edges_added": sorted(new_edges - old_edges),
        "edges_removed": sorted(old_edges - new_edges),
        "cycles_appeared": sorted(new_cycles.keys() - old_cycles.keys()),
        "cycles_resolved": sorted(old_cycles.keys() - new_cycles.keys()),
    }
    return Diff(a, b, keys, changes, old_cross | new_cross, {**old_cycles, **new_cycles})


def _node_digests(scope):
    out = {}
    for node_id, digest in service.select_all(Node, ("node_id", "digest"), scope):
        out.setdefault(node_id, digest)  # the first, as node_briefs does
    return out


def _full_rows(scope, ids):
    # The cycle service's reader: one joined query on PostgreSQL, long IN
    # lists on SQLite (batches of 500 through the ORM took 0.9 s for 6,800
    # ids on each side of the 100,000-node benchmark).
    out = {}
    for node_id, *row in service.select_in(Node, ("node_id", *COMPARED), scope, "node_id", ids):
        row[-1] = service._decoded(row[-1], dict)  # attrs: text on SQLite
        out.setdefault(node_id, tuple(row))
    return out


def _changed_fields(a, b, ids):
    """node id -> (before, after): the COMPARED fields that differ; for attrs,
    only the keys that differ (a key one side lacks is absent from it)."""
    before, after = _full_rows(a, ids), _full_rows(b, ids)
    changes = {}
    for node_id in ids:
        old, new = before.get(node_id), after.get(node_id)
        if old is None or new is None:
            continue  # pruned between the two reads
        was, now = {}, {}
        for name, x, y in zip(COMPARED, old, new, strict=True):
            if name == "attrs":
                x, y = _attrs_change(x, y)
            if x != y:
                was[name], now[name] = _shown(name, x), _shown(name, y)
        if was or now:
            changes[node_id] = (was, now)
    return changes


def _attrs_change(old, new):
    """The differing keys of two attrs dicts, each side with its own values.
    `state` is left out: senders put a task's state there, and the diff
    reports it as the node's state already."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return old, new
    keys = {k for k in old.keys() | new.keys() if old.get(k, _MISSING) != new.get(k, _MISSING)}
    keys.discard("state")
    return {k: old[k] for k in keys if k in old}, {k: new[k] for k in keys if k in new}


_MISSING = object()


def _shown(name, value):
    # Only tasks have a state: None rather than "", as the node JSON says.
    return (value or None) if name == "state" else value


def _edge_keys(scope):
    """({(src, dst)} of every needs edge, {resolved cross-process pairs})."""
    resolved, _ = scope.cross_edges()
    return set(service.fetch_edge_pairs(scope, resolved)), {(r.src, r.dst) for r in resolved}


def _edge_attrs(scope, pairs):
    """(src, dst) -> attrs for these pairs, local or resolved cross-process."""
    wanted = set(pairs)
    out = {}
    srcs = sorted({src for src, _ in pairs})
    for batch in batched(srcs, IN_BATCH):
        rows = scope.local_edges().filter(src__in=batch).values_list("src", "dst", "attrs")
        for src, dst, attrs in rows:
            if (src, dst) in wanted:
                out.setdefault((src, dst), attrs)
    if len(out) < len(wanted):
        resolved, _ = scope.cross_edges()
        for r in resolved:
            if (r.src, r.dst) in wanted:
                out.setdefault((r.src, r.dst), r.attrs)
    return out


def _cycles(scope):
    """member tuple -> candidate, from the cycle service's cached result."""
    return {tuple(sorted(c["members"])): c for c in service.cycle_result(scope)["candidates"]}


def previous_snapshot_id(scope):
    """The snapshot holding the newest earlier capture of the scope's
    processes (same proc_key, with data), or None. For a snapshot of several
    processes, the newest such capture of any of them."""
    captures = list(scope.processes().values_list("id", "proc_key"))
    if not captures:
        return None
    first = min(i for i, _ in captures)
    earlier = ProcessSnapshot.objects.filter(
        proc_key__in=[k for _, k in captures], id__lt=first, status__in=HAS_DATA
    )
    return earlier.order_by("-id").values_list("snapshot_id", flat=True).first()
