from django.urls import include, path

# Each area of the app owns its routes; the pages come last because they
# hold the catch-all-looking routes like /<snapshot>/.
urlpatterns = [
    path("", include("snapshots.api.urls")),
    path("", include("snapshots.cycles.urls")),
    path("", include("snapshots.live.urls")),
    path("", include("snapshots.pages.urls")),
]

handler404 = "peepsweb.errors.not_found"
