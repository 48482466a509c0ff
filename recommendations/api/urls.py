from django.urls import path

from ecomsight.api.hot import hot_get

from . import views

urlpatterns = [
    path("customers/<str:customer_id>/recommendations/",
         hot_get(views.CustomerRecommendationsApi, views.recommendations_first_page), name="customer-recommendations"),
    path("products/<str:product_id>/similar/", views.ProductSimilarApi.as_view(), name="product-similar"),
    path("jobs/recommendations/", views.RecommendationsJobApi.as_view(), name="jobs-recommendations"),
]
