"""The project's URLs plus views that fail on purpose (drill 9), with secrets in the exception."""

from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from ecomsight.urls import handler500  # noqa: F401 - handler500 is looked up here
from ecomsight.urls import urlpatterns as project_urls

SECRET_IN_ERROR = "s3cr3t-db-password-in-exception"


def boom(request, who: str = ""):
    auth = request.META.get("HTTP_AUTHORIZATION", "")
    raise RuntimeError(f"{SECRET_IN_ERROR} for {who} with {auth} and token={request.GET.get('token', '')}")


class BoomApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    def get(self, request, who: str = ""):
        return boom(request, who)


urlpatterns = [
    path("boom/<str:who>/", boom),
    path("api/v1/boom/<str:who>/", BoomApi.as_view()),
    *project_urls,
]
