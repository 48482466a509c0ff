from django.apps import AppConfig


class ForecastsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "forecasts"
    verbose_name = "Forecasts and alerts"

    def ready(self) -> None:
        # Flagged customers (refund abuse, bot-like sessions) are left out of predictions' segment exports by
        # default, and the customer page says why.
        from predictions.extensions import excluded_customers_provide

        from .selectors import customer_flag_reasons, flagged_customer_ids

        excluded_customers_provide(reader=flagged_customer_ids, reasons=customer_flag_reasons)

        # New orders or events (a finished import, an API batch): check the monitors (debounced).
        from behavior.signals import data_arrived

        from .services.alerts import data_arrived_receive

        data_arrived.connect(data_arrived_receive, dispatch_uid="forecasts.alerts.after_import")
