"""Deadlock candidates: the API (JSON and text report) and the Cycles page."""

import functools

from django.http import HttpResponse

from snapshots.api.views import json_response, read_view
from snapshots.cycles import drawing, service
from snapshots.cycles.finder import score_parts
from snapshots.cycles.report import participant_chains, render_report
from snapshots.pages.views.common import render_fragment, render_page, scoped_page
from snapshots.scope import resolve_scope
from snapshots.templatetags.peeps import node_path


# read_view: GET/HEAD only, and an unknown `{id}` is the API's JSON 404.
@read_view
def cycles_api(request, scope):
    return json_response(service.cycles_json(resolve_scope(scope)))


@read_view
def cycles_text(request, scope):
    """The text report; a download unless ?inline=1 (handy with curl or a browser tab)."""
    scope = resolve_scope(scope)
    response = HttpResponse(service.report_text(scope), content_type="text/plain; charset=utf-8")
    if request.GET.get("inline") != "1":
        name = "live" if scope.is_live else f"snapshot-{scope.key}"
        response["Content-Disposition"] = f'attachment; filename="peepsweb-deadlocks-{name}.txt"'
    return response


# A cycle can be thousands of nodes long; the page shows the start of each
# list and points to the text report and the JSON for the rest.
MAX_CANDIDATES_SHOWN = 100
MAX_CHAIN = 200
MAX_PARTICIPANTS = 50
MAX_MEMBERS = 500
MAX_REPORT_CHARS = 200_000


def candidate_views(scope, result):
    """What the page shows per candidate (all plain data; the template escapes)."""
    link = functools.partial(node_path, scope.key)
    nodes = result.get("nodes", {})
    details = result.get("details") or []
    views = []
    for i, c in enumerate(result["candidates"][:MAX_CANDIDATES_SHOWN], 1):
        detail = details[i - 1] if i <= len(details) else {}
        in_cycle = set(c["cycle"])
        members = [
            {
                "id": m,
                "href": link(m),
                "in_cycle": m in in_cycle,
                "name": (nodes.get(m) or {}).get("name") or m,
                "kind": (nodes.get(m) or {}).get("kind") or "",
            }
            for m in c["members"][:MAX_MEMBERS]
        ]
        chain = [
            {**edge, "src_href": link(edge["src_id"]), "dst_href": link(edge["dst_id"])}
            for edge in c["edges"][:MAX_CHAIN]
        ]
        chains = participant_chains(result, c)
        members_set = set(c["members"])
        blocked = [
            {
                "id": t,
                "href": link(t),
                "name": (nodes.get(t) or {}).get("name") or t,
                "upstream": t not in members_set,  # stalled behind the cycle, not in it
            }
            for t in detail.get("blocked_tasks") or []
        ]
        participants = [
            {
                "id": node_id,
                "href": link(node_id),
                "node": nodes.get(node_id) or {},
                "lines": lines,
                "trace": (result.get("traces", {}).get(node_id) or [None])[0],
            }
            for node_id, lines in chains[:MAX_PARTICIPANTS]
        ]
        views.append(
            {
                "index": i,
                "c": c,
                "members": members,
                "chain": chain,
                "chain_more": max(0, len(c["edges"]) - MAX_CHAIN),
                "participants_more": max(0, len(chains) - MAX_PARTICIPANTS),
                "participants": participants,
                "ring": drawing.ring(
                    c["cycle"], nodes, link, c["members"], detail.get("component_edges")
                ),
                "blocked": blocked,
                "blocked_more": max(0, c["blocked_task_count"] - len(blocked)),
                "score": score_parts(
                    c["confidence"], c["blocked_task_count"], c["worst_wait_ns"] or 0
                ),
                "processes": sorted(
                    {(nodes.get(m) or {}).get("process") or "?" for m in c["cycle"]}
                ),
            }
        )
    return views


# The banner and the report are pushed with the list: an open live cycles
# page is where a user waits for the deadlock.
PAGE_PARTIALS = ("cycle-list", "cycle-report", "scope-banner")


@scoped_page
def cycles_page(request):
    context = cycles_context(request.snapshot_scope)
    return render_page(request, "cycles/page.html", context, partial=PAGE_PARTIALS)


def cycles_context(scope):
    result = service.cycle_result(scope)
    report = render_report(result, service.scope_label(scope))
    summary = service.summarize(result)
    return {
        "scope": scope,
        "active": "cycles",
        "result": result,
        "candidates": candidate_views(scope, result),
        "report": report[:MAX_REPORT_CHARS],
        "report_cut": len(report) > MAX_REPORT_CHARS,
        "cycle_count": len(result["candidates"]),
        "candidates_more": max(0, len(result["candidates"]) - MAX_CANDIDATES_SHOWN),
        "summary": summary,
        "cycles": summary,  # for the banner (pages/_scope_banner.html)
    }


def cycles_fragment(scope):
    """The page's htmx fragment (list, report, banner); pushed live."""
    return render_fragment("cycles/page.html", PAGE_PARTIALS, cycles_context(scope))
