from django.urls import path

from . import views

app_name = "forecasts"

urlpatterns = [
    path("forecasts/", views.forecast_page, name="forecast"),
    path("forecasts/forecast.csv", views.forecast_csv, name="forecast_csv"),
    path("alerts/", views.alert_list, name="alerts"),
    path("alerts/acknowledge/", views.alert_acknowledge_view, name="alert_acknowledge"),
    path("alerts/mute/", views.monitor_mute_view, name="monitor_mute"),
    path("alerts/webhook/", views.alert_webhook_view, name="alert_webhook"),
]
