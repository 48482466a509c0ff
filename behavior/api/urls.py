from django.urls import path

from . import views

urlpatterns = [
    path("customers/", views.CustomerListApi.as_view(), name="customers"),
    # customers/<id>/ (CustomerDetailApi, plus DELETE: erasure) is routed by privacy/api/urls.py.
    path("events/batch/", views.EventBatchApi.as_view(), name="events-batch"),
    path("orders/batch/", views.OrderBatchApi.as_view(), name="orders-batch"),
    path("reviews/batch/", views.ReviewBatchApi.as_view(), name="reviews-batch"),
]
