"""The project's URLs plus tiny views guarded by the permission decorators (tests only)."""

from django.http import HttpResponse
from django.urls import path

from accounts.permissions import permission_required_403, role_required
from ecomsight.urls import urlpatterns as project_urlpatterns


@role_required("analyst")
def analyst_page(request):
    return HttpResponse("analyst page")


@permission_required_403("accounts.view_personal_data")
def personal_data_page(request):
    return HttpResponse("personal data")


urlpatterns = [
    path("test/analyst/", analyst_page),
    path("test/personal/", personal_data_page),
    *project_urlpatterns,
]
