from django.urls import path

from . import views

urlpatterns = [
    path("customers/<str:customer_id>/export/", views.CustomerExportApi.as_view(), name="customer-export"),
    path("customers/<str:customer_id>/", views.CustomerApi.as_view(), name="customer"),
]
