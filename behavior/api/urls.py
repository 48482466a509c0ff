from django.urls import path

from . import views

urlpatterns = [
    path("customers/", views.CustomerListApi.as_view(), name="customers"),
    path("customers/<str:customer_id>/", views.CustomerDetailApi.as_view(), name="customer"),
    path("events/batch/", views.EventBatchApi.as_view(), name="events-batch"),
    path("orders/batch/", views.OrderBatchApi.as_view(), name="orders-batch"),
    path("reviews/batch/", views.ReviewBatchApi.as_view(), name="reviews-batch"),
]
