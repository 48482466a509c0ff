from django.urls import path

from . import views

urlpatterns = [
    path("me/", views.MeApi.as_view(), name="me"),
    path("jobs/", views.JobListApi.as_view(), name="jobs"),
    path("jobs/<int:job_id>/", views.JobDetailApi.as_view(), name="job"),
]
