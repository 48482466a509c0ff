from django.urls import path

from . import views

urlpatterns = [
    path("customers/<str:customer_id>/next-best-offer/", views.NextBestOfferApi.as_view(),
         name="customer-next-best-offer"),
]
