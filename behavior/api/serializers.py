"""Customers as the API shows them, and the documented shapes of batch items and results."""

from rest_framework import serializers

from behavior.models import Customer
from ecomsight.api.fields import ChoiceField
from ecomsight.api.permissions import request_personal_data


class CustomerOutputSerializer(serializers.ModelSerializer):
    """A customer by the shop's own id. email and name are personal data: null unless the caller may see them."""

    id = serializers.CharField(source="external_id", help_text="The shop's own customer id.")
    email = serializers.SerializerMethodField(help_text="Personal data: null unless your role may see it.")
    name = serializers.SerializerMethodField(help_text="Personal data: null unless your role may see it.")

    class Meta:
        model = Customer
        fields = ["id", "email", "name", "country", "signup_at", "marketing_consent", "attributes", "is_stub",
                  "created_at"]
        extra_kwargs = {"marketing_consent": {"help_text": "Consent to marketing: true, false (refused: left out "
                                                           "of exports and segment members) or null (unknown)."}}
        read_only_fields = fields

    def _personal(self) -> bool:
        if "personal" not in self.context:
            request = self.context.get("request")
            self.context["personal"] = bool(request and request_personal_data(request))
        return self.context["personal"]

    def get_email(self, obj) -> str | None:
        return obj.email if self._personal() else None

    def get_name(self, obj) -> str | None:
        return obj.name if self._personal() else None


class CustomerFilterSerializer(serializers.Serializer):
    country = serializers.CharField(
        required=False, max_length=64,
        help_text="A country by its ISO code or name (Germany, DE and DEU are one), case-insensitive.")
    is_stub = serializers.BooleanField(required=False, allow_null=True, default=None,
                                       help_text="Only stand-ins created for unknown ids (true) or only real ones. The "
                                                 "shop's guest customer (`guest`: guest checkouts, nobody) is in "
                                                 "neither: the list leaves it out, as the pages do.")
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)
    ordering = ChoiceField(choices=["id", "-id", "created_at", "-created_at"], required=False,
                           default="id", help_text="Sort key; `id` is the shop's customer id.")


class EventItemSerializer(serializers.Serializer):
    """One event (documentation of the item; items are validated by the import's rules)."""

    event_id = serializers.CharField(max_length=200,
                                     help_text="Your id of the event: with `occurred_at`, the idempotency key.")
    customer_id = serializers.CharField(max_length=100)
    type = serializers.CharField(max_length=32, help_text="view, add_to_cart, remove_from_cart, wishlist, search, "
                                                          "review, login, or your own type.")
    product_id = serializers.CharField(max_length=100, required=False, allow_null=True)
    occurred_at = serializers.DateTimeField(help_text="ISO 8601; without a zone means UTC.")
    session_id = serializers.CharField(max_length=100, required=False, allow_null=True)
    properties = serializers.JSONField(required=False, allow_null=True)


class OrderLineItemSerializer(serializers.Serializer):
    product_id = serializers.CharField(max_length=100)
    quantity = serializers.IntegerField(min_value=0, required=False, allow_null=True)
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0, required=False,
                                          allow_null=True, coerce_to_string=False)


class OrderItemSerializer(serializers.Serializer):
    order_id = serializers.CharField(max_length=100, help_text="Your id of the order: the idempotency key.")
    customer_id = serializers.CharField(
        max_length=100, allow_null=True, allow_blank=True,
        help_text="null, \"\", \"0\" or \"guest\" (any case): a guest checkout, stored under the shop's guest customer "
                  "(as in an orders file); for an order stored under a real customer, that order's item (a refund "
                  "sent without its customer). Left out, the item is refused.")
    placed_at = serializers.DateTimeField(help_text="ISO 8601; without a zone means UTC.")
    total = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0, required=False, allow_null=True,
                                     coerce_to_string=False)
    currency = serializers.CharField(min_length=3, max_length=3, required=False, allow_null=True)
    status = serializers.ChoiceField(choices=["placed", "cancelled", "refunded"], required=False, allow_null=True)
    item_count = serializers.IntegerField(min_value=0, required=False, allow_null=True)
    status_changed_at = serializers.DateTimeField(
        required=False, allow_null=True,
        help_text="When the status last changed (the refund's or cancellation's moment; ISO 8601). Left out, an "
                  "item that changes a stored order's status dates the change on its arrival (in a shop whose "
                  "latest order is at most 8 days old).")
    lines = OrderLineItemSerializer(many=True, required=False, allow_null=True)


class ReviewItemSerializer(serializers.Serializer):
    """One review (documentation of the item; items are validated by the import's rules)."""

    review_id = serializers.CharField(max_length=200, help_text="Your id of the review: the idempotency key.")
    customer_id = serializers.CharField(max_length=100, required=False, allow_null=True)
    product_id = serializers.CharField(max_length=100, required=False, allow_null=True)
    rating = serializers.IntegerField(min_value=1, max_value=5, required=False, allow_null=True,
                                      help_text="Stars, 1 to 5 (optional).")
    title = serializers.CharField(max_length=300, required=False, allow_null=True)
    text = serializers.CharField(required=False, allow_null=True)
    created_at = serializers.DateTimeField(required=False, allow_null=True, help_text="ISO 8601; no zone means UTC.")
    language = serializers.CharField(max_length=16, required=False, allow_null=True, help_text="e.g. en, de, zh.")


class RejectedItemSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="The item's position in the request (0-based).")
    field = serializers.CharField(allow_null=True)
    code = serializers.CharField()
    message = serializers.CharField()


class BatchResultSerializer(serializers.Serializer):
    stored = serializers.IntegerField(help_text="Items stored now.")
    duplicates = serializers.IntegerField(help_text="Items already stored (or repeated in this batch): nothing new.")
    updated = serializers.IntegerField(help_text="Orders already stored whose values changed.")
    lines_stored = serializers.IntegerField(help_text="Order lines stored or changed.")
    rejected = RejectedItemSerializer(many=True)
    unknown_types = serializers.DictField(
        child=serializers.IntegerField(), required=False,
        help_text="events/batch only: stored events whose type is none of view, add_to_cart, remove_from_cart, "
                  "wishlist, search, review, login — kept, but no model reads them (a typo shows here) — by type.")
    guest_orders = serializers.IntegerField(
        required=False,
        help_text="orders/batch only: accepted orders written as guest checkouts (customer_id null, \"\", 0 or guest), "
                  "stored, updated or unchanged.")


def _json_type(field: serializers.Field) -> str:
    """The JSON type a field documents, in words (for the batch schemas below)."""
    if isinstance(field, serializers.ListSerializer | serializers.ListField):
        return "array"
    if isinstance(field, serializers.ChoiceField):
        return "one of " + ", ".join(f"`{c}`" for c in field.choices)
    if isinstance(field, serializers.DateTimeField):
        return "string (ISO 8601 date-time)"
    if isinstance(field, serializers.IntegerField):
        return "integer"
    if isinstance(field, serializers.DecimalField | serializers.FloatField):
        return "number"
    if isinstance(field, serializers.JSONField):
        return "object"
    return "string"


def batch_request_schema(item_serializer: type[serializers.Serializer], *, max_items: int) -> dict:
    """The OpenAPI schema of a batch body: an array of up to `max_items` items of any shape.

    The server checks each item by the import's rules and rejects a bad one alone (listed in `rejected`
    of a 200 answer), so a schema that required fields or types per item would promise a 400 the API
    never gives. The fields are documented in words (and in the example) instead."""
    properties = {}
    for name, field in item_serializer().fields.items():
        words = _json_type(field) + (", required" if field.required else ", optional")
        if getattr(field, "allow_null", False):
            words += ", may be null"
        help_text = f". {field.help_text}" if field.help_text else ""
        properties[name] = {"description": f"{words}{help_text}"}
    return {
        "type": "array", "maxItems": max_items,
        "items": {"description": f"One item ({item_serializer.__name__.removesuffix('Serializer')}). An item "
                                 "that breaks these rules, or holds a key not listed here (`unknown_field`), is "
                                 "rejected alone, with its index, field and reason.",
                  "properties": properties},
    }
