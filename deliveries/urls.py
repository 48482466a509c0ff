from django.urls import path

from . import views

app_name = "deliveries"

urlpatterns = [
    path("deliveries/", views.delivery_list_page, name="list"),
    path("deliveries/<int:delivery_id>/", views.delivery_page, name="detail"),
    path("deliveries/<int:delivery_id>/send/", views.delivery_send_view, name="send"),
    path("deliveries/<int:delivery_id>/delete/", views.delivery_delete_view, name="delete"),
]
