from django.apps import AppConfig


class PredictionsConfig(AppConfig):
    name = "predictions"

    def ready(self) -> None:
        from behavior.signals import customers_changed

        from .services.rescoring import customers_changed_record

        customers_changed.connect(customers_changed_record, dispatch_uid="predictions.rescoring.record")
