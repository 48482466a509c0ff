from django.apps import AppConfig


class RecommendationsConfig(AppConfig):
    name = "recommendations"

    def ready(self) -> None:
        # What predictions' customer page and segment exports show of recommendations (it cannot import us).
        from predictions.extensions import recommendations_provide

        from .selectors import customer_page_recommendations, export_top_recommendations

        recommendations_provide(customer=customer_page_recommendations, export=export_top_recommendations)
