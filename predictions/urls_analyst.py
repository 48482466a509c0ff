from django.urls import path

from . import views_analyst as views

app_name = "analyst"

urlpatterns = [
    path("models/", views.models_page, name="models"),
    path("models/train/", views.train_now, name="train"),
    path("models/score/", views.score_now, name="score"),
    path("models/<int:version_id>/", views.version_page, name="version"),
    path("models/<int:version_id>/promote/", views.version_promote, name="promote"),
    path("jobs/", views.jobs_page, name="jobs"),
    path("jobs/status.json", views.jobs_status, name="jobs_status"),
    path("jobs/<int:job_id>/", views.job_page, name="job"),
    path("jobs/<int:job_id>/status.json", views.job_status, name="job_status"),
]
