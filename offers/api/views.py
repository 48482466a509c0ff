"""The offers API: a customer's next best offer (drawn by the current policy and logged with its propensity)."""

from django.http import Http404
from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from behavior.models import Customer
from ecomsight.api.fields import MONEY_PLACES, PROBABILITY_PLACES, rounded
from ecomsight.api.views import ShopApiMixin
from predictions.extensions import customer_flag_reasons

from ..services import next_best_offer


class NextBestOfferApi(ShopApiMixin, APIView):
    """The offer the current policy gives this customer now. Each draw is logged as an assignment with the
    probability it was drawn with; a customer asked about again within 24 hours gets the same assignment. The
    answer says the customer's marketing consent and flags: the offer is the same on the site and in a campaign,
    whether it may be *sent* is the caller's to check."""

    @extend_schema(
        operation_id="customer_next_best_offer", summary="A customer's next best offer", tags=["offers"],
        responses=inline_serializer("NextBestOffer", {
            "customer_id": serializers.CharField(), "offer_id": serializers.CharField(),
            "offer": serializers.DictField(), "propensity": serializers.FloatField(),
            "is_control": serializers.BooleanField(help_text=(
                "True when this offer was drawn at random among the offers the customer may get (the offers' random "
                "control: a share of draws, and every draw before a learned policy is live) rather than chosen by "
                "the learned policy. The customer does get this offer: it is not the control group held back from "
                "segment exports.")),
            "policy_version": serializers.IntegerField(allow_null=True),
            "assignment_id": serializers.CharField(), "assigned_at": serializers.DateTimeField(),
            "expected_conversion": serializers.FloatField(allow_null=True),
            "expected_net_revenue": serializers.FloatField(allow_null=True),
            "marketing_consent": serializers.BooleanField(allow_null=True, help_text=(
                "The customer's consent to marketing (null: unknown). An offer shown on the site needs none; one "
                "sent by email or push needs true.")),
            "flagged": serializers.ListField(child=serializers.CharField(), help_text=(
                "Why the customer is left out of campaign files (refund abuse, bot-like sessions), if so: "
                "campaigns should not send this offer."))}),
        examples=[OpenApiExample("offer", value={
            "customer_id": "C-1042", "offer_id": "discount_10",
            "offer": {"name": "10 % off", "kind": "discount_pct", "value": 10.0}, "propensity": 0.8725,
            "is_control": False, "policy_version": 3, "assignment_id": "api-5f0c2b9e4d7a4c1e9b3a8d6f2e1c0b9a",
            "assigned_at": "2026-03-01T09:30:00Z", "expected_conversion": 0.184,
            "expected_net_revenue": None, "marketing_consent": True, "flagged": []})],
    )
    def get(self, request, customer_id: str):
        try:
            assigned = next_best_offer(shop=self.shop, customer_external_id=customer_id)
        except Customer.DoesNotExist:
            raise Http404("No such customer.") from None
        # The datetime itself, so that it is rendered as every API timestamp is (UTC, `Z`).
        # The propensity keeps its 6 decimals: it is logged for off-policy evaluation, which divides by it.
        consent = Customer.objects.filter(pk=assigned.customer_id).values_list("marketing_consent", flat=True).first()
        return Response({**assigned.as_json(), "assigned_at": assigned.assigned_at,
                         "expected_conversion": rounded(assigned.expected_conversion, PROBABILITY_PLACES),
                         "expected_net_revenue": rounded(assigned.expected_net_revenue, MONEY_PLACES),
                         "marketing_consent": consent,
                         "flagged": customer_flag_reasons(shop_id=self.shop.pk, customer_id=assigned.customer_id)})
