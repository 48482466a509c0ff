"""`DELETE customers/{id}/` (erasure) and `GET customers/{id}/export/` (access request): admins only.

The customer URL's GET stays behavior's CustomerDetailApi; CustomerApi adds DELETE to it (this app is above
behavior, so the route is declared here and listed before behavior's)."""

from dataclasses import asdict

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from behavior.api.serializers import CustomerOutputSerializer
from behavior.api.views import CUSTOMER_EXAMPLE, CustomerDetailApi
from ecomsight.api.schema import documented_get
from ecomsight.api.views import ShopApiMixin
from predictions.selectors.scores import customer_lapsed_current
from privacy.services import CustomerNotFound, customer_data_export, customer_erase

CUSTOMER_ID = OpenApiParameter("customer_id", OpenApiTypes.STR, OpenApiParameter.PATH,
                               description="The shop's own customer id.")


class CustomerRecordSerializer(CustomerOutputSerializer):
    """One customer's record: the list's fields and whether they had already lapsed by the current scores."""

    lapsed = serializers.BooleanField(
        allow_null=True, read_only=True,
        help_text="Whether the customer had already lapsed (silent for more than 3 of their usual gaps between "
                  "orders: a win-back customer, not one to save) by the shop's current scores, as their scores' "
                  "`lapsed`; null when the current scores do not include them (never scored, or no scores yet). "
                  "Not in the customers list: read it here, on the at-risk list's items or in the scores.")

    class Meta(CustomerOutputSerializer.Meta):
        fields = [*CustomerOutputSerializer.Meta.fields, "lapsed"]
        read_only_fields = fields


@documented_get(operation_id="customers_retrieve", summary="One customer by the shop's id", tags=["customers"],
                parameters=[CUSTOMER_ID],
                examples=[OpenApiExample("customer", value={**CUSTOMER_EXAMPLE, "lapsed": False})])
class CustomerApi(CustomerDetailApi):
    """One customer: read (marketers and up), erase (admins)."""

    required_roles = {"GET": "marketer", "DELETE": "admin"}
    serializer_class = CustomerRecordSerializer

    def get_object(self):
        customer = super().get_object()
        customer.lapsed = customer_lapsed_current(shop=self.shop, customer_pk=customer.pk)
        return customer

    @extend_schema(operation_id="customers_erase", summary="Erase a customer everywhere (admins)",
                   tags=["customers"], parameters=[CUSTOMER_ID],
                   description="Removes the customer's personal data and behaviour everywhere: the customer, "
                               "orders and lines, events, scores, interest profile, recommendations, their rows in "
                               "kept export files and in kept import files (uploads, rejected-rows reports). "
                               "Only an audit row with a keyed hash of the id stays. Idempotent: an id "
                               "already erased (or never stored) answers 200 with `found: false`.",
                   responses={200: inline_serializer("Erasure", {
                       "found": serializers.BooleanField(), "id_hash": serializers.CharField(),
                       "orders": serializers.IntegerField(), "order_lines": serializers.IntegerField(),
                       "events": serializers.IntegerField(), "scores": serializers.IntegerField(),
                       "interests": serializers.IntegerField(), "recommendations": serializers.IntegerField(),
                       "export_files_rewritten": serializers.IntegerField(),
                       "import_files_rewritten": serializers.IntegerField()})},
                   examples=[OpenApiExample("erased", value={
                       "found": True, "id_hash": "3b5d…", "orders": 4, "order_lines": 9, "events": 120,
                       "scores": 6, "interests": 4, "recommendations": 20, "export_files_rewritten": 1,
                       "import_files_rewritten": 2})])
    def delete(self, request, customer_id: str):
        (result,) = customer_erase(shop=self.shop, external_ids=[customer_id], actor=request.user)
        return Response(asdict(result), status=status.HTTP_200_OK)


class CustomerExportApi(ShopApiMixin, APIView):
    """Every stored fact about one customer (an access request)."""

    required_roles = {"GET": "admin"}

    @extend_schema(operation_id="customers_export", summary="Everything stored about a customer (admins)",
                   tags=["customers"], parameters=[CUSTOMER_ID],
                   description="The access request: profile (email, name, consent), orders with lines, events, "
                               "scores, recommendations and the exports that targeted the customer.",
                   responses=OpenApiTypes.OBJECT,
                   examples=[OpenApiExample("export", response_only=True, value={
                       "shop": "my-shop",
                       "customer": {"id": "C00042", "email": "ann@example.com", "name": "Ann", "country": "DE",
                                    "signup_at": "2024-01-05T00:00:00Z", "marketing_consent": True,
                                    "attributes": {}, "is_stub": False, "created_at": "2026-01-02T10:00:00Z"},
                       "orders": [{"id": "O1", "placed_at": "2026-05-01T10:00:00Z", "total": "42.00",
                                   "currency": "EUR", "status": "placed", "item_count": 1,
                                   "lines": [{"product_id": "P7", "quantity": 1, "unit_price": "42.00"}]}],
                       "events": [{"type": "view", "product_id": "P7", "occurred_at": "2026-04-30T09:00:00Z",
                                   "session_id": "s1", "properties": {}}],
                       "scores": [], "recommendations": [], "segment_exports": []})])
    def get(self, request, customer_id: str):
        try:
            return Response(customer_data_export(shop=self.shop, external_id=customer_id))
        except CustomerNotFound:
            raise exceptions.NotFound("No such customer.") from None
