from django.urls import path

from . import views

app_name = "catalog"

urlpatterns = [
    path("products/<str:product_id>/", views.product_page, name="product"),
    path("products/<str:product_id>/image/<str:size>/", views.product_image, name="product_image"),
]
