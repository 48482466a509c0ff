from django.urls import path

from . import views

app_name = "offers"

urlpatterns = [
    path("offers/", views.offer_page, name="offers"),
    path("offers/plan/<int:segment_id>/", views.offer_plan_page, name="plan"),
]
