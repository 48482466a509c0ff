from django.urls import path

from . import views

urlpatterns = [
    path("reviews/", views.ReviewListApi.as_view(), name="reviews"),
]
