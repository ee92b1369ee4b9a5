"""Routes of the investigation pages.

`<scope>` is a snapshot id, `latest` or `live` (snapshots.scope.resolve_scope).
Node ids contain ':' and may contain '/', so they use the `path` converter and
their routes come after every fixed-suffix route of the same prefix.
"""

from django.urls import path

from snapshots.diffs import pages as diffs
from snapshots.graph import views as graph
from snapshots.pages.views import backtraces, inspector, nodes, problems, snapshots

app_name = "pages"

urlpatterns = [
    path("", snapshots.home, name="home"),
    path("snapshots/<str:scope>/", snapshots.overview, name="overview"),
    path("snapshots/<str:scope>/tasks/", nodes.tasks, name="tasks"),
    path("snapshots/<str:scope>/kinds/", nodes.kinds, name="kinds"),
    path("snapshots/<str:scope>/kinds/<str:kind>/", nodes.kind_table, name="kind"),
    path("snapshots/<str:scope>/backtraces/", backtraces.backtraces, name="backtraces"),
    path("snapshots/<str:scope>/unresolved/", problems.unresolved, name="unresolved"),
    path("snapshots/<str:scope>/stuck-requests/", problems.stuck_requests, name="stuck_requests"),
    path("snapshots/<str:scope>/traces.txt", inspector.trace_text, name="trace_text"),
    path("snapshots/<str:scope>/graph/", graph.graph, name="graph"),
    path("snapshots/<str:scope>/diff/<str:other>/", diffs.diff_page, name="diff"),
    path("snapshots/<str:scope>/compare/", diffs.compare, name="compare"),
    # For node ids with a "." or ".." path segment, which browsers would
    # resolve away in the path form (templatetags.peeps.node_url picks).
    path("snapshots/<str:scope>/node/", inspector.node_by_query, name="node_query"),
    path(
        "snapshots/<str:scope>/node-history/",
        inspector.node_history_facts,
        name="node_history_facts",
    ),
    path("snapshots/<str:scope>/nodes/<path:node_id>/", inspector.node, name="node"),
]
