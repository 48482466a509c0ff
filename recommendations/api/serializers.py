"""Recommendations and similar products, with products by the shop's own ids."""

from rest_framework import serializers

from ecomsight.api.fields import (
    PROBABILITY_PLACES,
    ChoiceField,
    KnownKeysSerializer,
    RoundedFloatField,
    StrictIntegerField,
)
from recommendations.models import Recommendation, SimilarProduct


class ProductRefSerializer(serializers.Serializer):
    id = serializers.CharField(source="external_id", help_text="The shop's own product id.")
    title = serializers.CharField()
    price = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True, coerce_to_string=False)
    active = serializers.BooleanField()


class RecommendationOutputSerializer(serializers.ModelSerializer):
    product = ProductRefSerializer()
    score = RoundedFloatField(places=PROBABILITY_PLACES, help_text="Higher is better; 4 decimals.")

    class Meta:
        model = Recommendation
        fields = ["rank", "product", "score", "source", "reason"]
        read_only_fields = fields


class SimilarOutputSerializer(serializers.ModelSerializer):
    product = ProductRefSerializer(source="similar")
    score = RoundedFloatField(places=PROBABILITY_PLACES, help_text="Higher is more similar; 4 decimals.")

    class Meta:
        model = SimilarProduct
        fields = ["kind", "rank", "product", "score"]
        read_only_fields = fields


SIMILAR_KINDS = [*SimilarProduct.Kind.values, "visual"]


class SimilarFilterSerializer(serializers.Serializer):
    kind = ChoiceField(choices=SIMILAR_KINDS, required=False,
                       help_text="`visual`: pictures that look alike (from index_images).")
    scope = ChoiceField(choices=["overall", "category"], required=False, default="overall",
                        help_text="kind=visual only: neighbours among all products, or within the "
                                  "product's category.")


class RecommendationsJobInputSerializer(KnownKeysSerializer):
    k = StrictIntegerField(min_value=1, max_value=100, required=False, default=20,
                                 help_text="Recommendations per customer.")
