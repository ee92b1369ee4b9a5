"""Routes of the cycle finder: the API (JSON, text report) and the Cycles page.

`<scope>` is a snapshot id, `latest` or `live` (snapshots.scope.resolve_scope).
"""

from django.urls import path

from snapshots.cycles import views

app_name = "cycles"

urlpatterns = [
    path("api/v1/snapshots/<str:scope>/cycles", views.cycles_api, name="api"),
    path("api/v1/snapshots/<str:scope>/cycles.txt", views.cycles_text, name="report"),
    path("snapshots/<str:scope>/cycles/", views.cycles_page, name="page"),
]
