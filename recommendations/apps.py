from django.apps import AppConfig


class RecommendationsConfig(AppConfig):
    name = "recommendations"

    def ready(self) -> None:
        # What predictions' customer page and segment exports show of recommendations (it cannot import us).
        from predictions.extensions import recommendations_provide

        from .selectors import customer_page_recommendations, export_top_recommendations

        recommendations_provide(customer=customer_page_recommendations, export=export_top_recommendations)

        # Customers re-scored on the arrival of their orders or events get fresh lists as well.
        from predictions.signals import customers_rescored

        from .services import customers_rescored_refresh

        customers_rescored.connect(customers_rescored_refresh, dispatch_uid="recommendations.refresh.rescored")
