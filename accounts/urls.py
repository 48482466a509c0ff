from django.urls import path

from . import views

app_name = "accounts"

# Mounted at /accounts/ (ecomsight/urls.py).
urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("shop/", views.shop_switch, name="shop_switch"),
    path("tokens/", views.token_list, name="tokens"),
    path("tokens/revoke/", views.token_revoke, name="token_revoke"),
]
