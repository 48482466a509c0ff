"""Reviews as the API shows them (the shop's own ids), and the list's filters."""

from rest_framework import serializers

from behavior.models import Review
from ecomsight.api.fields import ChoiceField

from ..ml.aspects import ASPECTS
from ..selectors import SENTIMENTS


class ReviewOutputSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="external_id", help_text="The shop's own review id.")
    customer_id = serializers.CharField(source="customer.external_id", allow_null=True, default=None)
    product_id = serializers.CharField(source="product.external_id", allow_null=True, default=None)
    aspects = serializers.ListField(child=serializers.CharField(), help_text=f"Any of {', '.join(ASPECTS)}.")
    # "" until the review is analysed (the schema's enum says so, as the answers do)
    sentiment = serializers.ChoiceField(choices=[*SENTIMENTS, ""], allow_blank=True,
                                        help_text="positive, neutral or negative; empty until the review is analysed.")

    class Meta:
        model = Review
        fields = ["id", "customer_id", "product_id", "rating", "title", "text", "created_at", "language",
                  "sentiment", "positive_probability", "aspects", "analyzed_at"]
        read_only_fields = fields


class ReviewFilterSerializer(serializers.Serializer):
    product = serializers.CharField(required=False, max_length=100, help_text="The shop's product id.")
    customer = serializers.CharField(required=False, max_length=100, help_text="The shop's customer id.")
    sentiment = ChoiceField(choices=SENTIMENTS, required=False)
    aspect = ChoiceField(choices=ASPECTS, required=False)
    category = serializers.CharField(required=False, max_length=500,
                                     help_text="A category path (`Home > Kitchen`) or its id, as the at-risk "
                                               "list's `category`; its subcategories count too.")
