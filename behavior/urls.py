from django.urls import path

from . import views

app_name = "behavior"

urlpatterns = [
    path("imports/", views.import_list, name="imports"),
    path("imports/new/<str:token>/", views.import_map, name="import_map"),
    path("imports/<int:import_id>/", views.import_detail, name="import_detail"),
    path("imports/<int:import_id>/status.json", views.import_status, name="import_status"),
    path("imports/<int:import_id>/report.csv", views.import_report, name="import_report"),
    path("quality/", views.quality, name="quality"),
]
