"""Version 1 of the REST API: each app contributes its endpoints (see <app>/api/urls.py)."""
from django.urls import include, path

from .views import HealthApi

app_name = "api-v1"

urlpatterns = [
    path("health/", HealthApi.as_view(), name="health"),
    # The busiest first: Django tries each app's patterns in turn (recommendations' were the 28th of 28, a
    # tenth of that call's CPU). No two apps' patterns match the same path, so the order changes nothing else.
    path("", include("recommendations.api.urls")),
    path("", include("predictions.api.urls")),
    path("", include("behavior.api.urls")),
    path("", include("accounts.api.urls")),
]
