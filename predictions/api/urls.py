from django.urls import path

from . import views

urlpatterns = [
    path("at-risk/", views.AtRiskApi.as_view(), name="at-risk"),
    path("customers/<str:customer_id>/scores/", views.CustomerScoresApi.as_view(), name="customer-scores"),
    path("customers/<str:customer_id>/interests/", views.CustomerInterestsApi.as_view(), name="customer-interests"),
    path("segments/", views.SegmentListApi.as_view(), name="segments"),
    path("segments/<int:segment_id>/", views.SegmentDetailApi.as_view(), name="segment"),
    path("segments/<int:segment_id>/members/", views.SegmentMembersApi.as_view(), name="segment-members"),
    path("segments/<int:segment_id>/export/", views.SegmentExportApi.as_view(), name="segment-export"),
    path("models/", views.ModelListApi.as_view(), name="models"),
    path("models/<int:model_id>/", views.ModelDetailApi.as_view(), name="model"),
    path("models/<int:model_id>/promote/", views.ModelPromoteApi.as_view(), name="model-promote"),
    path("jobs/train/", views.TrainJobApi.as_view(), name="jobs-train"),
    path("jobs/score/", views.ScoreJobApi.as_view(), name="jobs-score"),
]
