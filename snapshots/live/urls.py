from django.urls import path

from snapshots.live import views

urlpatterns = [
    path("api/v1/jump-now", views.jump_now, name="api-jump-now"),
    path("api/v1/agents", views.agents_api, name="api-agents"),
    path("agents/", views.agents_page, name="agents"),
]
