from django.urls import path

from . import views

app_name = "predictions"

urlpatterns = [
    path("customers/", views.at_risk_list, name="at_risk"),
    path("customers/<path:external_id>/", views.customer_page, name="customer"),
    path("segments/", views.segment_list, name="segments"),
    path("segments/<int:segment_id>/", views.segment_page, name="segment"),
    path("segments/<int:segment_id>/rename/", views.segment_rename_view, name="segment_rename"),
    path("segments/<int:segment_id>/delete/", views.segment_delete_view, name="segment_delete"),
    path("segments/<int:segment_id>/export.csv", views.segment_export, name="segment_export"),
    path("segments/<int:segment_id>/export/", views.segment_export_start, name="segment_export_start"),
    path("segments/exports/<int:export_id>/", views.export_page, name="export"),
    path("segments/exports/<int:export_id>/status.json", views.export_status, name="export_status"),
    path("segments/exports/<int:export_id>/download.csv", views.export_download, name="export_download"),
    path("buyers/", views.likely_buyers_list, name="likely_buyers"),
]
