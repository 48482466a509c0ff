from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviews"
    verbose_name = "Reviews"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from behavior.signals import reviews_changed

        from .services import reviews_changed_record

        reviews_changed.connect(reviews_changed_record, dispatch_uid="reviews.services.score_new")
