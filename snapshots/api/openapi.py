"""The OpenAPI 3.1 document served at GET /api/openapi.json.

It describes every endpoint of SNAPSHOT_FORMAT.md, including those other
areas implement (ingest, cycles, jump-now), so that one document tells a
scripting user everything. tests/api/test_openapi.py checks that every /api/
route is described here and that real responses match these schemas.
"""

from functools import cache

from snapshots.diffs.diff import SECTIONS as DIFF_SECTIONS
from snapshots.queries import (
    DEFAULT_PER_PAGE,
    MAX_PAGE,
    MAX_PER_PAGE,
    SORTS,
    TIME_NS_PATTERN,
    time_iso_pattern,
)
from snapshots.states import STATE_CLASSES


def _ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema):
    return {"anyOf": [schema, {"type": "null"}]}


def _json(schema, description):
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description, headers=None):
    response = _json(_ref("Error"), description)
    if headers:
        response["headers"] = headers
    return response


def _obj(properties, required=(), additional=True, description=None):
    schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if not additional:
        schema["additionalProperties"] = False
    if description:
        schema["description"] = description
    return schema


INT = {"type": "integer"}
STR = {"type": "string"}
BOOL = {"type": "boolean"}
NS = {"type": "integer", "description": "Unix time in nanoseconds"}
COUNTS = {"type": "object", "additionalProperties": {"type": "integer"}}
STATE_COUNTS = _obj(
    {cls: INT for cls in STATE_CLASSES},
    required=STATE_CLASSES,
    description="Tasks per normalized state class (every class present, zeros included).",
)

SCOPE_PARAM = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "A snapshot id, `latest` (the newest complete snapshot) or `live` "
    "(the union of each process's newest capture within the freshness window).",
    "schema": {"oneOf": [{"type": "string", "pattern": "^[0-9]+$"}, {"enum": ["latest", "live"]}]},
}
# What snapshots.queries._order_by accepts: a column or `attrs.<key>`, `-` to reverse.
SORT_PATTERN = r"^(-?(" + "|".join(sorted(SORTS)) + r"|attrs\.[A-Za-z0-9_]{1,64}))?$"
PAGE_PARAMS = [
    {
        "name": "page",
        "in": "query",
        "description": f"1-based page number, at most {MAX_PAGE:,}. A page past the end "
        "answers an empty list.",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1},
    },
    {
        "name": "per_page",
        "in": "query",
        "description": f"Rows per page, at most {MAX_PER_PAGE}.",
        "schema": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_PER_PAGE,
            "default": DEFAULT_PER_PAGE,
        },
    },
]


# Read parameters are text without NUL (PostgreSQL cannot store one; the API
# answers 400); a filter value is at most 1024 characters.
NO_NUL = "^[^\\u0000]*$"
FILTER_TEXT = {"type": "string", "maxLength": 1024, "pattern": NO_NUL}


def _list_param(name, description, items=FILTER_TEXT):
    return {
        "name": name,
        "in": "query",
        "description": description + " Repeat the parameter to match any of several values.",
        "schema": {"type": "array", "items": items},
        "style": "form",
        "explode": True,
    }


SCHEMAS = {
    "Error": _obj(
        {
            "error": {"type": "string", "description": "What is wrong, in words."},
            "path": {
                "type": "string",
                "description": "Where: a JSON path into the request body (`nodes[3].id`), "
                "a query parameter name (`sort`) or a URL part (`id`, `node_id`); "
                "empty when it is the request as a whole.",
            },
        },
        required=["error", "path"],
    ),
    "Pagination": _obj(
        {
            "page": INT,
            "per_page": INT,
            "total": {"type": "integer", "description": "Rows matching, over all pages."},
            "num_pages": INT,
            "next": _nullable({"type": "string", "description": "URL of the next page"}),
            "previous": _nullable({"type": "string", "description": "URL of the previous page"}),
        },
        required=["page", "per_page", "total", "num_pages", "next", "previous"],
    ),
    "Process": _obj(
        {
            "process": STR,
            "proc_key": STR,
            "pid": _nullable(INT),
            "status": {
                "enum": ["pushed", "responded", "pending", "timeout", "disconnected", "error"]
            },
            "captured_at_ns": _nullable(NS),
            "received_at": _nullable({"type": "string", "format": "date-time"}),
            "node_count": INT,
            "edge_count": INT,
        },
        required=["process", "proc_key", "status"],
    ),
    "SnapshotListItem": _obj(
        {
            "snapshot_id": INT,
            "kind": {"enum": ["push", "pull"]},
            "status": {"enum": ["open", "complete"], "description": "open: a pull collecting"},
            "captured_at": _nullable({"type": "string", "format": "date-time"}),
            "captured_at_ns": _nullable(NS),
            "processes": {"type": "array", "items": _ref("Process")},
            "node_count": INT,
            "edge_count": INT,
            "task_states": _ref("StateCounts"),
            "cycle_candidates": _nullable(
                {"type": "integer", "description": "null until the cycle finder ran"}
            ),
            "quiet": {
                "type": "boolean",
                "description": "No task changed state in any of its captures since the "
                "previous capture of the same process (no landmark, the same tasks; attrs "
                "and edges may have changed); the list page folds runs of these.",
            },
            "local_cycle": {
                "type": "boolean",
                "description": "One of its captures has a needs cycle within its own process.",
            },
        },
        required=["snapshot_id", "captured_at", "processes", "node_count", "edge_count"],
    ),
    "SnapshotList": {
        "allOf": [
            _ref("Pagination"),
            _obj(
                {
                    "snapshots": {"type": "array", "items": _ref("SnapshotListItem")},
                    "at_snapshot_id": _nullable(
                        {
                            "type": "integer",
                            "description": "With `at`: the snapshot it found (the page is "
                            "the one holding it); null without `at` or when none is that old.",
                        }
                    ),
                },
                required=["snapshots"],
            ),
        ]
    },
    "StateCounts": STATE_COUNTS,
    "ScopeId": {
        "oneOf": [{"type": "integer"}, {"const": "live"}],
        "description": "The snapshot id (`latest` is resolved to its number) or `live`.",
    },
    "SnapshotSummary": _obj(
        {
            "snapshot_id": _ref("ScopeId"),
            "live": BOOL,
            "status": _nullable({"enum": ["open", "complete"]}),
            "captured_at": _nullable({"type": "string", "format": "date-time"}),
            "captured_at_ns": _nullable(NS),
            "skew_ns": _nullable(
                {
                    "type": "integer",
                    "description": "Spread of captured_at_ns across processes (ingest "
                    "skew); null with fewer than two processes.",
                }
            ),
            "processes": {"type": "array", "items": _ref("Process")},
            "node_count": INT,
            "edge_count": {
                "type": "integer",
                "description": "needs edges: local ones plus cross-process ones resolved here",
            },
            "cross_edge_count": INT,
            "unresolved_edge_count": INT,
            "wake_event_count": INT,
            "pending_trace_count": INT,
            "kinds": {**COUNTS, "description": "Nodes per kind, biggest first."},
            "task_states": _ref("StateCounts"),
            "links": _obj({"nodes": STR, "cycles": STR}),
        },
        required=[
            "snapshot_id",
            "processes",
            "node_count",
            "edge_count",
            "unresolved_edge_count",
            "kinds",
            "task_states",
            "skew_ns",
        ],
    ),
    "Node": _obj(
        {
            "node_id": STR,
            "kind": STR,
            "label": STR,
            "proc_key": STR,
            "process": STR,
            "attrs": {"type": "object"},
            "task_id": _nullable(INT),
            "state": _nullable({"type": "string", "description": "Raw task state"}),
            "state_class": _nullable({"enum": STATE_CLASSES}),
            "spawned_at_ns": _nullable(NS),
            "age_ns": _nullable(
                {"type": "integer", "description": "capture time minus spawned_at_ns"}
            ),
            "pending_us": _nullable(
                {"type": "integer", "description": "longest pending trace duration"}
            ),
            "needs_count": INT,
            "needed_by_count": INT,
            "last_waker": _nullable({"type": "string", "description": "node id of a task"}),
        },
        required=["node_id", "kind", "label", "proc_key", "process", "attrs"],
    ),
    "NodeList": {
        "allOf": [
            _ref("Pagination"),
            _obj(
                {
                    "snapshot_id": _ref("ScopeId"),
                    "sort": _nullable(STR),
                    "nodes": {"type": "array", "items": _ref("Node")},
                },
                required=["snapshot_id", "nodes"],
            ),
        ]
    },
    "NodeBrief": _obj(
        {
            "node_id": STR,
            "kind": STR,
            "label": STR,
            "proc_key": STR,
            "state": _nullable(STR),
            "state_class": _nullable({"enum": STATE_CLASSES}),
        },
        required=["node_id", "kind", "label", "proc_key", "state", "state_class"],
    ),
    "EdgeRow": _obj(
        {
            "src": STR,
            "dst": STR,
            "other_id": {"type": "string", "description": "The end that is not this node"},
            "other": _nullable(_ref("NodeBrief")),
            "attrs": {"type": "object"},
            "cross_process": BOOL,
            "unresolved": {
                "type": "boolean",
                "description": "A cross-process edge whose other end is not in this scope",
            },
            "missing_side": _nullable({"enum": ["src", "dst", "both"]}),
            "referenced_proc_key": _nullable(STR),
            "reason": _nullable(STR),
        },
        required=["src", "dst", "other_id", "other", "cross_process", "unresolved"],
    ),
    "WakeSource": _obj(
        {
            "waker": _nullable(
                {"type": "string", "description": "Waker task node id; null: outside any task"}
            ),
            "waker_node": _nullable(_ref("NodeBrief")),
            "count": INT,
            "last_at_ns": NS,
            "target_workers": {"type": "array", "items": INT},
        },
        required=["waker", "count", "last_at_ns", "target_workers"],
    ),
    "WakeEvent": _obj(
        {
            "at_ns": NS,
            "waker": _nullable(STR),
            "waker_node": _nullable(_ref("NodeBrief")),
            "target_worker": _nullable(INT),
        },
        required=["at_ns", "waker", "target_worker"],
    ),
    "PendingTrace": _obj(
        {
            "task_id": INT,
            "at_ns": NS,
            "duration_us": _nullable(INT),
            "frames": {
                "type": "array",
                "description": "Innermost first",
                "items": _obj(
                    {"id": {"type": ["integer", "string"]}, "text": _nullable(STR)},
                    required=["id", "text"],
                ),
            },
        },
        required=["at_ns", "duration_us", "frames"],
    ),
    "NodeDetail": _obj(
        {
            "snapshot_id": _ref("ScopeId"),
            "node": _ref("Node"),
            "needs": {
                "type": "array",
                "items": _ref("EdgeRow"),
                "description": "Outgoing edges (this node needs ...), at most 500",
            },
            "needs_total": INT,
            "needed_by": {
                "type": "array",
                "items": _ref("EdgeRow"),
                "description": "Incoming edges, at most 500",
            },
            "needed_by_total": INT,
            "wake_sources": {
                "type": "array",
                "items": _ref("WakeSource"),
                "description": "Per waker, most recent first",
            },
            "wake_events": {
                "type": "array",
                "items": _ref("WakeEvent"),
                "description": "The most recent wake events, in time order",
            },
            "wake_event_total": INT,
            "pending_traces": {
                "type": "array",
                "items": _ref("PendingTrace"),
                "description": "Newest first",
            },
            "pending_trace_total": INT,
        },
        required=["snapshot_id", "node", "needs", "needed_by", "wake_sources", "pending_traces"],
    ),
    "CycleCandidate": _obj(
        {
            "members": {"type": "array", "items": STR},
            "cycle": {
                "type": "array",
                "items": STR,
                "description": "Node ids in order; the edge from the last back to the "
                "first closes the cycle",
            },
            "edges": {
                "type": "array",
                "items": _obj(
                    {"src_id": STR, "dst_id": STR, "explanation": STR},
                    required=["src_id", "dst_id"],
                ),
            },
            "cross_process": BOOL,
            "severity": STR,
            "score": {"type": "number"},
            "worst_wait_ns": _nullable(INT),
            "blocked_task_count": INT,
            "confidence": {"type": "string", "enum": ["high", "medium"]},
            "confidence_reason": STR,
            "first_seen_ns": _nullable(
                {
                    **NS,
                    "description": "captured_at_ns of the capture that begins the unbroken "
                    "run of captures, ending at the shown ones, with these members in a "
                    "cycle; null when the captures carry no time",
                }
            ),
            "first_seen_snapshot_id": _nullable(
                {"type": "integer", "description": "The snapshot holding that capture"}
            ),
            "present_for_ns": _nullable(
                {"type": "integer", "description": "The shown captures' time minus first_seen_ns"}
            ),
            "first_seen_capped": {
                "type": "boolean",
                "description": "True when the look back stopped at its bound rather than at "
                "a capture without the cycle: it may be older (present_for_ns is a minimum)",
            },
            "first_seen_oldest_stored": {
                "type": "boolean",
                "description": "True when first seen is the oldest capture still stored of a "
                "process of the cycle: retention may have removed older captures that had "
                "it too (or the process began with it)",
            },
        },
        required=["members", "cycle", "edges", "cross_process", "severity", "score"],
    ),
    "Cycles": _obj(
        {
            "snapshot_id": _ref("ScopeId"),
            "candidates": {
                "type": "array",
                "items": _ref("CycleCandidate"),
                "description": "One per strongly connected component of the needs graph "
                "with a cycle (size >= 2, or a self-loop), worst first",
            },
            "truncated": {
                "type": "boolean",
                "description": "Present (true) only when the candidates were cut at the cap",
            },
            "candidate_total": {"type": "integer", "description": "Present with truncated"},
        },
        required=["snapshot_id", "candidates"],
    ),
    "IngestNode": _obj(
        {
            "id": {
                "type": "string",
                "description": "Unique in the process snapshot; `{kind}:{proc_key}:{rest}`",
            },
            "kind": {"type": "string", "pattern": "^[a-z0-9_-]+$"},
            "label": STR,
            "attrs": {"type": "object"},
            "attrs_json": {"type": "string", "description": "A JSON object, as text"},
        },
        required=["id", "kind"],
        description="Unknown fields are kept in attrs.",
    ),
    "IngestEdge": _obj(
        {
            "src_id": STR,
            "dst_id": STR,
            "kind": {"const": "needs"},
            "attrs": {"type": "object"},
            "attrs_json": STR,
        },
        required=["src_id", "dst_id", "kind"],
    ),
    "IngestBody": _obj(
        {
            "process": {"type": "string", "minLength": 1, "maxLength": 128},
            "pid": INT,
            "proc_key": {"type": "string", "pattern": "^[a-z0-9._-]{1,64}$"},
            "captured_at_ns": _nullable(NS),
            "snapshot_id": _nullable(
                {"type": "integer", "description": "Only when replying to a pull (jump-now)"}
            ),
            "nodes": {"type": "array", "items": _ref("IngestNode")},
            "edges": {"type": "array", "items": _ref("IngestEdge")},
            "wake_events": {
                "type": "array",
                "items": _obj(
                    {
                        "at_ns": NS,
                        "waker_task_id": _nullable(INT),
                        "woken_task_id": INT,
                        "target_worker": _nullable(INT),
                    },
                    required=["at_ns", "woken_task_id"],
                ),
            },
            "frames": {
                "type": "object",
                "additionalProperties": STR,
                "description": "Interned frame texts by frame id",
            },
            "pending_traces": {
                "type": "array",
                "items": _obj(
                    {
                        "task_id": INT,
                        "at_ns": NS,
                        "duration_us": INT,
                        "frame_ids": {
                            "type": "array",
                            "items": INT,
                            "description": "Innermost first; each must be in `frames`",
                        },
                    },
                    required=["task_id", "at_ns", "frame_ids"],
                ),
            },
        },
        required=["process", "proc_key", "nodes"],
    ),
    "ProcessDump": _obj(
        {
            "process_name": STR,
            "pid": INT,
            "graph": _obj(
                {
                    "nodes": {"type": "array", "items": {"type": "object"}},
                    "edges": {"type": "array", "items": {"type": "object"}},
                },
                required=["nodes"],
            ),
        },
        required=["process_name", "pid", "graph"],
        description="The peeps ProcessDump shape; proc_key becomes "
        "`{slug(process_name)}-{pid}`, fields the contract does not use are ignored.",
    ),
    "IngestResult": _obj(
        {
            "snapshot_id": INT,
            "process": STR,
            "proc_key": STR,
            "nodes": INT,
            "edges": INT,
            "unresolved_edges": INT,
            "wake_events": INT,
            "pending_traces": INT,
        },
        required=["snapshot_id", "process", "proc_key", "nodes", "edges"],
    ),
    "JumpNowResult": _obj(
        {
            "snapshot_id": INT,
            "status": {"enum": ["open", "complete"]},
            "requested": {"type": "integer", "description": "Processes asked"},
            "responded": INT,
            "timed_out": INT,
            "disconnected": INT,
            "errors": INT,
            "processes": {
                "type": "array",
                "items": _obj(
                    {
                        "process": STR,
                        "pid": _nullable(INT),
                        "proc_key": STR,
                        "status": {
                            "enum": ["pending", "responded", "timeout", "disconnected", "error"]
                        },
                        "detail": STR,
                    },
                    required=["proc_key", "status"],
                ),
            },
        },
        required=["snapshot_id", "processes"],
    ),
    "AgentList": _obj(
        {
            "agents": {
                "type": "array",
                "items": _obj(
                    {
                        "process": STR,
                        "pid": _nullable(INT),
                        "proc_key": STR,
                        "connected_at": {"type": "string", "format": "date-time"},
                        "last_seen_at": {"type": "string", "format": "date-time"},
                    },
                    required=["process", "proc_key", "connected_at"],
                ),
            }
        },
        required=["agents"],
    ),
    "DiffSide": _obj(
        {
            "snapshot_id": _ref("ScopeId"),
            "live": BOOL,
            "captured_at_ns": _nullable(NS),
        },
        required=["snapshot_id", "live", "captured_at_ns"],
    ),
    "DiffNode": _obj(
        {
            "id": STR,
            "kind": _nullable(STR),
            "label": _nullable(STR),
            "state": _nullable(STR),
            "state_class": _nullable({"enum": STATE_CLASSES}),
            "proc_key": _nullable(STR),
        },
        required=["id", "kind", "label", "state", "proc_key"],
        description="A node as it is in the capture that has it (`b` when added, `a` when "
        "removed or changed: kind, label and state of `b` for a changed node).",
    ),
    "DiffChangedNode": {
        "allOf": [
            _ref("DiffNode"),
            _obj(
                {
                    "before": _ref("DiffFields"),
                    "after": _ref("DiffFields"),
                },
                required=["before", "after"],
            ),
        ]
    },
    "DiffFields": _obj(
        {
            "kind": STR,
            "label": STR,
            "state": _nullable(STR),
            "attrs": {
                "type": "object",
                "description": "Only the attrs keys that differ; a key one side lacks "
                "is absent from it.",
            },
        },
        description="Only the fields that differ between the two captures.",
    ),
    "DiffEdge": _obj(
        {
            "src_id": STR,
            "dst_id": STR,
            "attrs": {"type": "object"},
            "cross_process": {
                "type": "boolean",
                "description": "A resolved edge between two processes of the scope",
            },
        },
        required=["src_id", "dst_id", "attrs", "cross_process"],
        description="A needs edge: `src_id` needs `dst_id`.",
    ),
    "DiffCycle": _obj(
        {
            "members": {
                "type": "array",
                "items": STR,
                "description": "The node ids of the cycle's component, sorted (the first 100)",
            },
            "member_count": INT,
            "cycle": {"type": "array", "items": STR},
            "severity": _nullable(STR),
            "cross_process": BOOL,
        },
        required=["members", "member_count", "cycle", "severity", "cross_process"],
    ),
    "Diff": _obj(
        {
            "a": _ref("DiffSide"),
            "b": _ref("DiffSide"),
            "counts": _obj(
                {name: INT for name in DIFF_SECTIONS},
                required=DIFF_SECTIONS,
                description="Every section's full count, whichever section was asked for",
            ),
            "page": INT,
            "per_page": INT,
            "pages": {
                "type": "object",
                "additionalProperties": _ref("Pagination"),
                "description": "Per section returned: its pagination; the links page that "
                "section alone (`section=`)",
            },
            "nodes_added": {"type": "array", "items": _ref("DiffNode")},
            "nodes_removed": {"type": "array", "items": _ref("DiffNode")},
            "nodes_changed": {"type": "array", "items": _ref("DiffChangedNode")},
            "edges_added": {"type": "array", "items": _ref("DiffEdge")},
            "edges_removed": {"type": "array", "items": _ref("DiffEdge")},
            "cycles_appeared": {"type": "array", "items": _ref("DiffCycle")},
            "cycles_resolved": {"type": "array", "items": _ref("DiffCycle")},
        },
        required=["a", "b", "counts", "page", "per_page", "pages"],
        description="Sections are present when asked for (all of them without `section`).",
    ),
    "HistoryCapture": _obj(
        {
            "snapshot_id": INT,
            "captured_at_ns": _nullable(NS),
            "present": {"type": "boolean", "description": "The capture has the node"},
            "state": _nullable(
                {"type": "string", "description": "Raw task state; null when absent or not a task"}
            ),
            "state_class": _nullable({"enum": STATE_CLASSES}),
        },
        required=["snapshot_id", "captured_at_ns", "present", "state", "state_class"],
    ),
    "NodeHistory": {
        "allOf": [
            _ref("Pagination"),
            _obj(
                {
                    "node_id": STR,
                    "proc_key": STR,
                    "first_seen_snapshot_id": {
                        "type": "integer",
                        "description": "The oldest stored capture that has the node "
                        "(retention may have removed older ones)",
                    },
                    "stuck_since_ns": _nullable(
                        {
                            "type": "integer",
                            "description": "When the current unbroken wait began: the "
                            "first of the newest run of captures that have the node in "
                            "state class `waiting`, or the start its pending traces give "
                            "when that is earlier (and after the capture before the run); "
                            "null when the newest capture does not have it waiting. The "
                            "inspector labels it 'waiting since'",
                        }
                    ),
                    "no_progress_since_ns": _nullable(
                        {
                            "type": "integer",
                            "description": "What the overview's 'Stuck across snapshots' "
                            "says of the node: the time of the oldest capture of the newest "
                            "run in which it stayed waiting with its state and attrs "
                            "unchanged and no wake of it; never before stuck_since_ns' "
                            "capture. Null when not waiting",
                        }
                    ),
                    "no_progress_since_snapshot_id": _nullable(
                        {"type": "integer", "description": "The snapshot of that capture"}
                    ),
                    "captures": {
                        "type": "array",
                        "items": _ref("HistoryCapture"),
                        "description": "Newest first: one per capture of the process, "
                        "with or without the node",
                    },
                },
                required=[
                    "node_id",
                    "proc_key",
                    "first_seen_snapshot_id",
                    "stuck_since_ns",
                    "no_progress_since_ns",
                    "no_progress_since_snapshot_id",
                    "captures",
                ],
            ),
        ]
    },
}

NOT_FOUND = _error("Unknown snapshot id (`path`: `id`) or node (`path`: `node_id`)")
BAD_PARAM = _error("A query parameter is invalid; `path` names it")
RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds"}}

PATHS = {
    "/api/v1/snapshots": {
        "get": {
            "operationId": "listSnapshots",
            "summary": "Snapshots, newest first",
            "description": "Each with its processes, node/edge counts and task-state counts. "
            "Newest first by id; a page past the end answers an empty list with the total.",
            "parameters": [
                *PAGE_PARAMS,
                {
                    "name": "process",
                    "in": "query",
                    "description": "Only snapshots with a capture of this process: its name "
                    "or its proc_key, exact.",
                    "schema": {"type": "string", "maxLength": 128, "pattern": NO_NUL},
                },
                {
                    "name": "has_cycle",
                    "in": "query",
                    "description": "1: only snapshots holding a needs cycle: one of its "
                    "captures has a cycle within its own process (found at ingest), or the "
                    "deadlock finder, where it has run, found a candidate.",
                    "schema": {"enum": ["", "0", "1", "true", "false"]},
                },
                {
                    "name": "at",
                    "in": "query",
                    "description": "Jump: the page is the one holding the newest matching "
                    "snapshot captured at or before this time (`at_snapshot_id`); `page` is "
                    "then ignored. An ISO 8601 time, UTC unless it names an offset, or Unix "
                    "nanoseconds.",
                    "schema": {
                        "oneOf": [
                            {"type": "string", "pattern": "^ *$"},
                            {"type": "string", "pattern": TIME_NS_PATTERN},
                            {"type": "string", "pattern": time_iso_pattern(last_day="28")},
                        ]
                    },
                },
            ],
            "responses": {
                "200": _json(_ref("SnapshotList"), "A page of snapshots"),
                "400": BAD_PARAM,
            },
        },
        "post": {
            "operationId": "ingestSnapshot",
            "summary": "Ingest one process snapshot",
            "description": "A push (no snapshot_id) opens a new snapshot; a reply to a "
            "jump-now pull carries its snapshot_id. One process snapshot is one "
            "transaction: a refused body stores nothing. Limits (configurable): 64 MiB "
            "body after decompression, 1,000,000 nodes, 2,000,000 edges, 64 KiB per "
            "string and per node's attrs, attrs nested at most 16 levels.",
            "security": [{}, {"bearerAuth": []}],
            "parameters": [
                {
                    "name": "Content-Encoding",
                    "in": "header",
                    "schema": {"enum": ["gzip", "x-gzip", "identity", ""]},
                    "description": "gzip bodies are inflated up to the body limit, never "
                    "further; empty or `identity`: a plain body",
                }
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"oneOf": [_ref("IngestBody"), _ref("ProcessDump")]}
                    }
                },
            },
            "responses": {
                "201": _json(_ref("IngestResult"), "Stored"),
                "400": _error("Invalid body; `path` names the field (`nodes[3].id`)"),
                "401": _error("Missing token (the server has ingest tokens configured)"),
                "403": _error("Wrong or revoked token"),
                "409": _error("snapshot_id is not an open pull (late or unknown reply)"),
                "413": _error("Over a configured limit"),
                "415": _error("Not JSON"),
                "503": _error("Storage unavailable; retry later", headers=RETRY_AFTER),
            },
        },
    },
    "/api/v1/snapshots/{id}": {
        "get": {
            "operationId": "getSnapshotSummary",
            "summary": "Summary of a snapshot or of the live graph",
            "parameters": [SCOPE_PARAM],
            "responses": {
                "200": _json(
                    _ref("SnapshotSummary"),
                    "Counts by node kind and task state "
                    "class, processes, unresolved edges, ingest skew",
                ),
                "404": NOT_FOUND,
            },
        }
    },
    "/api/v1/snapshots/{id}/nodes": {
        "get": {
            "operationId": "listNodes",
            "summary": "Nodes, filtered, sorted and paginated",
            "parameters": [
                SCOPE_PARAM,
                _list_param("kind", "Node kind (task, lock, mpsc_tx, ...)."),
                _list_param("state", "Raw task state, exactly."),
                _list_param("state_class", "Normalized task state class.", {"enum": STATE_CLASSES}),
                _list_param("process", "proc_key or process name."),
                {
                    "name": "q",
                    "in": "query",
                    "description": "Search in label and node id: a case-insensitive substring, "
                    "or `/regex/` (`/regex/i` ignores case).",
                    "schema": {"type": "string", "maxLength": 512, "pattern": NO_NUL},
                },
                {
                    "name": "sort",
                    "in": "query",
                    "description": "Column to sort by, `-` prefix for descending; nulls last; "
                    "ties broken by storage order. `attrs.<key>` sorts by an attribute "
                    "(queue_len, holder_count, ...). Default: by node id (the same order "
                    "for every capture of a process, however it is stored).",
                    "schema": {
                        "type": "string",
                        "pattern": SORT_PATTERN,
                        "examples": sorted(SORTS) + ["-pending_us", "attrs.queue_len"],
                    },
                },
                *PAGE_PARAMS,
            ],
            "responses": {
                "200": _json(_ref("NodeList"), "A page of nodes"),
                "400": BAD_PARAM,
                "404": NOT_FOUND,
            },
        }
    },
    "/api/v1/snapshots/{id}/nodes/{node_id}": {
        "get": {
            "operationId": "getNode",
            "summary": "A node with its needs, needed_by, wake sources and pending traces",
            "parameters": [
                SCOPE_PARAM,
                {
                    "name": "node_id",
                    "in": "path",
                    "required": True,
                    "description": "The node id as sent (`task:vx-vfsd-51859:7`). Colons "
                    "may stay as they are; percent-encode `/`, `?`, `#`, `%` and the dots of "
                    "`.`/`..` segments (clients resolve those away otherwise).",
                    "schema": {"type": "string", "pattern": NO_NUL},
                },
            ],
            "responses": {
                "200": _json(_ref("NodeDetail"), "The node"),
                "400": _error("The node id holds a NUL byte (`path`: `node_id`)"),
                "404": NOT_FOUND,
            },
        }
    },
    "/api/v1/snapshots/{id}/cycles": {
        "get": {
            "operationId": "getCycles",
            "summary": "Deadlock candidates, worst first",
            "parameters": [SCOPE_PARAM],
            "responses": {
                "200": _json(_ref("Cycles"), "Cycle candidates"),
                "404": NOT_FOUND,
            },
        }
    },
    "/api/v1/snapshots/{id}/cycles.txt": {
        "get": {
            "operationId": "getCyclesReport",
            "summary": "The deadlock candidates as a plain-text report",
            "parameters": [
                SCOPE_PARAM,
                {
                    "name": "inline",
                    "in": "query",
                    "description": "`1` shows the report inline; any other value, or "
                    "none, makes it a download",
                    "schema": {"type": "string"},
                },
            ],
            "responses": {
                "200": {
                    "description": "The report",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
                "404": NOT_FOUND,
            },
        }
    },
    "/api/v1/snapshots/{a}/diff/{b}": {
        "get": {
            "operationId": "getSnapshotDiff",
            "summary": "What changed from capture `a` to capture `b`",
            "description": "Nodes added, removed and changed (kind, label, state, attrs), "
            "needs edges added and removed (cross-process ones included), cycles that "
            "appeared or resolved. Each section is sorted by id and paged alone. `live` "
            "moves between requests, so pages of a diff with it may shift.",
            "parameters": [
                {
                    "name": "a",
                    "in": "path",
                    "required": True,
                    "description": "The earlier scope: " + SCOPE_PARAM["description"],
                    "schema": SCOPE_PARAM["schema"],
                },
                {
                    "name": "b",
                    "in": "path",
                    "required": True,
                    "description": "The later scope: " + SCOPE_PARAM["description"],
                    "schema": SCOPE_PARAM["schema"],
                },
                {
                    "name": "section",
                    "in": "query",
                    "description": "Return only this section (the counts of all stay).",
                    "schema": {"enum": list(DIFF_SECTIONS)},
                },
                *PAGE_PARAMS,
            ],
            "responses": {
                "200": _json(_ref("Diff"), "The diff"),
                "400": BAD_PARAM,
                "404": _error("Unknown snapshot (`path`: `a` or `b`)"),
            },
        }
    },
    "/api/v1/history": {
        "get": {
            "operationId": "getNodeHistory",
            "summary": "A node's state in each capture of its process, newest first",
            "description": "Every stored capture of the node's process (up to its "
            "capture in `snapshot`), whether it has the node and in which state, with "
            "the first capture that has it and since when it has been waiting.",
            "parameters": [
                {
                    "name": "node",
                    "in": "query",
                    "required": True,
                    "description": "The node id as sent (`task:svc-1:7`)",
                    "schema": {"type": "string", "minLength": 1, "pattern": NO_NUL},
                },
                {
                    "name": "process",
                    "in": "query",
                    "description": "The proc_key whose captures to read. Without it, the "
                    "process whose captures have the node; a 400 naming `process` lists "
                    "them when there are several.",
                    "schema": {"type": "string", "pattern": "^[a-z0-9._-]{1,64}$"},
                },
                {
                    "name": "snapshot",
                    "in": "query",
                    "description": "End the history at the process's capture in this "
                    "snapshot (`latest`, `live`: its newest); default: all captures",
                    "schema": SCOPE_PARAM["schema"],
                },
                *PAGE_PARAMS,
            ],
            "responses": {
                "200": _json(_ref("NodeHistory"), "The node's history"),
                "400": BAD_PARAM,
                "404": _error(
                    "Unknown node (`path`: `node`), or snapshot, or a snapshot without "
                    "a capture of the process (`path`: `snapshot`)"
                ),
            },
        }
    },
    "/api/v1/jump-now": {
        "post": {
            "operationId": "jumpNow",
            "summary": "Pull a coherent snapshot from every connected process",
            "description": "Allocates a snapshot_id, asks every connected process (see "
            "/api/v1/agents) for a snapshot tagged with it, waits up to a timeout and "
            "records each process as responded, timeout, disconnected or error. Send the "
            "ingest bearer token (or, from the dashboard, the CSRF token).",
            "security": [{}, {"bearerAuth": []}],
            "parameters": [
                {
                    "name": "timeout_ms",
                    "in": "query",
                    "description": "How long to wait for replies (clamped; default from "
                    "PEEPSWEB_PULL_TIMEOUT_MS). May also be sent in a JSON or form body.",
                    "schema": {"type": "integer"},
                }
            ],
            "requestBody": {
                "required": False,
                "content": {
                    "application/json": {"schema": _obj({"timeout_ms": INT})},
                    "application/x-www-form-urlencoded": {"schema": _obj({"timeout_ms": INT})},
                },
            },
            "responses": {
                "201": _json(_ref("JumpNowResult"), "The pull snapshot, complete"),
                "400": _error("timeout_ms is not an integer, or the body is not JSON"),
                "401": _error("Missing token"),
                "403": _error("Wrong token, or failed CSRF check"),
                "405": _error("Not a POST"),
                "409": _error("A pull is already in flight, or no process is connected"),
            },
        }
    },
    "/api/v1/agents": {
        "get": {
            "operationId": "listAgents",
            "summary": "Instrumented processes connected for jump-now",
            "responses": {"200": _json(_ref("AgentList"), "Connected agents")},
        }
    },
    "/api/openapi.json": {
        "get": {
            "operationId": "getOpenApi",
            "summary": "This document",
            "responses": {
                "200": {
                    "description": "OpenAPI 3.1",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    },
}


@cache
def document():
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "peepsweb",
            "version": "1",
            "description": "Snapshots of async task graphs: ingest (nodes + `needs` edges, "
            "wake events, pending traces) and read them back. Errors are JSON "
            '`{"error": "...", "path": "..."}`. Every `{id}` accepts a number, '
            "`latest` and `live`.",
        },
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An ingest token, when the server has any configured",
                }
            },
        },
    }
