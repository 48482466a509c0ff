from django.urls import path

from . import views

app_name = "catalog"

urlpatterns = [
    # the shop's own ids may hold slashes: the picture's route is tried first
    path("products/<path:product_id>/image/<str:size>/", views.product_image, name="product_image"),
    path("products/<path:product_id>/", views.product_page, name="product"),
]
