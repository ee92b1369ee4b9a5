from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from snapshots.api import ingest, views


@csrf_exempt  # POST comes from instrumented processes, never from a browser form
def snapshots_collection(request):
    """One URL, two owners: GET lists snapshots (views.py, read API), POST
    ingests one (ingest.py, ingest area). Only the method is looked at here."""
    if request.method == "POST":
        return ingest.post_snapshot(request)
    if request.method not in ("GET", "HEAD"):
        return views.method_not_allowed(request, ("GET", "HEAD", "POST"))
    return views.snapshot_list(request)


urlpatterns = [
    path("api/v1/snapshots", snapshots_collection, name="api-snapshots"),
    path("api/v1/snapshots/<str:scope>", views.snapshot_summary, name="api-snapshot"),
    path("api/v1/snapshots/<str:scope>/nodes", views.node_list, name="api-nodes"),
    # Node ids contain colons and may contain slashes: `path` takes the rest.
    path(
        "api/v1/snapshots/<str:scope>/nodes/<path:node_id>",
        views.node_detail,
        name="api-node",
    ),
    path("api/v1/snapshots/<str:a>/diff/<str:b>", views.snapshot_diff, name="api-diff"),
    path("api/v1/history", views.node_history, name="api-history"),
    path("api/openapi.json", views.openapi_document, name="api-openapi"),
]
