from django.contrib import admin
from django.urls import include, path

from predictions import views as prediction_views

urlpatterns = [
    # The REST API and its OpenAPI schema (ecomsight/api/urls.py). First: Django tries the patterns in order,
    # and API clients call far more often than people open pages.
    path("api/", include("ecomsight.api.urls")),
    path("", prediction_views.dashboard, name="home"),
    path("", include("predictions.urls")),
    # The analyst's pages: imports/ and quality/ (behavior), models/ and jobs/ (predictions).
    path("", include("behavior.urls")),
    path("", include("catalog.urls")),
    path("", include("reviews.urls")),
    path("", include("predictions.urls_analyst")),
    path("", include("forecasts.urls")),
    path("", include("offers.urls")),
    path("", include("deliveries.urls")),
    path("accounts/", include("accounts.urls")),
    path("admin/", admin.site.urls),
]

# Error pages: the 500 answers in the API's format under /api/ (see accounts.views.server_error).
handler500 = "accounts.views.server_error"
