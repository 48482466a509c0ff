"""The API root, mounted at /api/: the OpenAPI schema, its Swagger page and version 1 of the API."""
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from .errors import not_found

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("v1/", include("ecomsight.api.v1")),
    # Anything else under /api/ answers in the API's error format, not with an HTML page. [\s\S]: a path may hold
    # a newline (%0A), which `.` does not match (bench/fuzz_api.sh sent /api/v1/models/)n…%0Aw/ and got HTML).
    re_path(r"^[\s\S]*$", not_found),
]
