"""Version 1 of the REST API: each app contributes its endpoints (see <app>/api/urls.py)."""
from django.urls import include, path

from .views import HealthApi

app_name = "api-v1"

urlpatterns = [
    path("health/", HealthApi.as_view(), name="health"),
    path("", include("accounts.api.urls")),
    path("", include("behavior.api.urls")),
    path("", include("predictions.api.urls")),
    path("", include("recommendations.api.urls")),
]
