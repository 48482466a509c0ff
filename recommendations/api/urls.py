from django.urls import path

from . import views

urlpatterns = [
    path("customers/<str:customer_id>/recommendations/", views.CustomerRecommendationsApi.as_view(),
         name="customer-recommendations"),
    path("products/<str:product_id>/similar/", views.ProductSimilarApi.as_view(), name="product-similar"),
    path("jobs/recommendations/", views.RecommendationsJobApi.as_view(), name="jobs-recommendations"),
]
