from django.apps import AppConfig


class PredictionsConfig(AppConfig):
    name = "predictions"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from behavior.signals import customers_changed, data_arrived

        from .models import ScoringRun
        from .services.at_risk_pages import at_risk_pages_forget_on_change, at_risk_pages_forget_on_run_change
        from .services.rescoring import customers_changed_record

        customers_changed.connect(customers_changed_record, dispatch_uid="predictions.rescoring.record")
        # The API's kept at-risk pages show customers' data and their orders since scoring: retired on both.
        customers_changed.connect(at_risk_pages_forget_on_change, dispatch_uid="predictions.at_risk_pages.changed")
        data_arrived.connect(at_risk_pages_forget_on_change, dispatch_uid="predictions.at_risk_pages.arrived")
        # ... and name the run they were read in: retired when a run is saved (one that succeeds becomes current)
        # or deleted.
        post_save.connect(at_risk_pages_forget_on_run_change, sender=ScoringRun,
                          dispatch_uid="predictions.at_risk_pages.run_saved")
        post_delete.connect(at_risk_pages_forget_on_run_change, sender=ScoringRun,
                            dispatch_uid="predictions.at_risk_pages.run_deleted")
