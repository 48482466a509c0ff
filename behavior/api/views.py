"""Customers (list, one by the shop's id) and batch ingestion of events and orders."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from behavior.ingest.values import country_canonical
from behavior.models import Customer
from behavior.selectors import customer_counted_list
from ecomsight.api.schema import documented_get
from ecomsight.api.views import PAGING, ShopApiMixin, query_names

from .ingest import MAX_ITEMS, events_ingest, orders_ingest, reviews_ingest
from .serializers import (
    BatchResultSerializer,
    CustomerFilterSerializer,
    CustomerOutputSerializer,
    EventItemSerializer,
    OrderItemSerializer,
    ReviewItemSerializer,
    batch_request_schema,
)

MAX_BATCH_BYTES = 32 * 1024 * 1024

CUSTOMER_EXAMPLE = {"id": "C00042", "email": None, "name": None, "country": "DE",
                    "signup_at": "2024-01-15T00:00:00Z", "attributes": {}, "is_stub": False,
                    "created_at": "2026-06-01T08:00:00Z"}


@documented_get(operation_id="customers_list", summary="The shop's customers", tags=["customers"],
                parameters=[CustomerFilterSerializer],
                examples=[OpenApiExample("customer", value=CUSTOMER_EXAMPLE, response_only=True)])
class CustomerListApi(ShopApiMixin, generics.ListAPIView):
    """The shop's customers, by the shop's own ids: as the pages count them, the shop's guest customer (guest
    checkouts, nobody) left out, `is_stub=true` included."""

    query_parameters = {"GET": query_names(CustomerFilterSerializer, *PAGING)}

    serializer_class = CustomerOutputSerializer

    def get_cursor_ordering(self):
        ordering = self._filters.get("ordering", "id")
        if ordering.lstrip("-") == "created_at":
            # A cursor pages by one column's values: thousands of customers imported at once share their
            # created_at, and the cursor could not get past them. Rows are numbered as they are created, so the
            # row number orders by creation too, ties included.
            return ordering.replace("created_at", "pk")
        return ordering.replace("id", "external_id") if ordering.lstrip("-") == "id" else ordering

    def get_queryset(self):
        query = CustomerFilterSerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        self._filters = data = query.validated_data
        qs = customer_counted_list(shop=self.shop)
        if data.get("country"):
            qs = qs.filter(country__iexact=country_canonical(data["country"]))  # "Germany" is DE, as stored
        if data.get("is_stub") is not None:
            qs = qs.filter(is_stub=data["is_stub"])
        if data.get("created_after"):
            qs = qs.filter(created_at__gte=data["created_after"])
        if data.get("created_before"):
            qs = qs.filter(created_at__lt=data["created_before"])
        return qs


@documented_get(operation_id="customers_retrieve", summary="One customer by the shop's id", tags=["customers"],
                parameters=[OpenApiParameter("customer_id", OpenApiTypes.STR, OpenApiParameter.PATH,
                                             description="The shop's own customer id.")],
                examples=[OpenApiExample("customer", value=CUSTOMER_EXAMPLE)])
class CustomerDetailApi(ShopApiMixin, generics.RetrieveAPIView):
    """One customer by the shop's own id."""

    serializer_class = CustomerOutputSerializer
    lookup_field = "external_id"
    lookup_url_kwarg = "customer_id"

    def get_queryset(self):
        return Customer.objects.filter(shop=self.shop)


_CREATE_MISSING = OpenApiParameter(
    "create_missing", OpenApiTypes.BOOL, OpenApiParameter.QUERY, default=True,
    description="Create stand-ins for unknown customers and products (true, as the CSV import does), "
                "or reject the items that name them (false; a guest checkout is still kept, under the shop's "
                "guest customer).")


class _BatchApi(ShopApiMixin, APIView):
    required_roles = {"POST": "analyst"}
    query_parameters = {"POST": frozenset({"create_missing"})}
    check_body_text = False  # each item's text is checked (and rejected alone) by the ingest adapter
    body_required = True  # no body is a 400 (the body must be an array), not an empty batch
    throttle_scope = "token"

    def _items(self, request) -> tuple[list, bool]:
        length = request.META.get("CONTENT_LENGTH") or "0"
        if length.isascii() and length.isdigit() and int(length) > MAX_BATCH_BYTES:
            raise exceptions.ValidationError(exceptions.ErrorDetail(
                f"The request body is over {MAX_BATCH_BYTES // (1024 * 1024)} MB: send smaller batches.",
                code="too_large"))
        raw = request.query_params.get("create_missing", "true").lower()
        if raw not in ("true", "false", "1", "0"):
            raise exceptions.ValidationError({"create_missing": ["Must be true or false."]})
        items = request.data
        if not isinstance(items, list):
            raise exceptions.ValidationError(exceptions.ErrorDetail(
                "The body must be a JSON array of items.", code="invalid_type"))
        if len(items) > MAX_ITEMS:
            raise exceptions.ValidationError(exceptions.ErrorDetail(
                f"A batch holds at most {MAX_ITEMS:,} items; this one has {len(items):,}. Split it into smaller "
                "batches (nothing was stored).", code="too_many_items"))
        return items, raw in ("true", "1")


_RESULT_EXAMPLE = OpenApiExample("result", response_only=True, value={
    "stored": 2, "duplicates": 1, "updated": 0, "lines_stored": 0,
    "rejected": [{"index": 3, "field": "occurred_at", "code": "invalid_datetime",
                  "message": "occurred_at: unparseable date (expected ISO 8601, e.g. 2024-03-01 or "
                             "2024-03-01T14:05:00)"}]})


class EventBatchApi(_BatchApi):
    """Batch ingestion of events."""

    @extend_schema(
        operation_id="events_batch", summary="Store up to 10,000 events", tags=["ingestion"],
        description="Each event is validated with the CSV import's rules; good events are stored in one "
                    "transaction, bad ones are listed with the reason. `event_id` with `occurred_at` is the "
                    "idempotency key: sending the same batch again stores nothing new (the same `event_id` "
                    "with another `occurred_at` is stored as another event).",
        request={"application/json": batch_request_schema(EventItemSerializer, max_items=MAX_ITEMS)},
        parameters=[_CREATE_MISSING],
        responses={200: BatchResultSerializer},
        examples=[
            OpenApiExample("events", request_only=True, value=[
                {"event_id": "e-1", "customer_id": "C00042", "type": "view", "product_id": "P001",
                 "occurred_at": "2026-06-30T10:15:00Z", "session_id": "s-9", "properties": {"source": "app"}},
                {"event_id": "e-2", "customer_id": "C00042", "type": "add_to_cart", "product_id": "P001",
                 "occurred_at": "2026-06-30T10:16:00Z"}]),
            _RESULT_EXAMPLE,
        ],
    )
    def post(self, request):
        items, create_missing = self._items(request)
        outcome = events_ingest(shop=self.shop, items=items, create_missing=create_missing)
        return Response(outcome.as_dict(), status=status.HTTP_200_OK)


class OrderBatchApi(_BatchApi):
    """Batch ingestion of orders."""

    @extend_schema(
        operation_id="orders_batch", summary="Store up to 10,000 orders (with their lines)", tags=["ingestion"],
        description="Each order is validated with the CSV import's rules; good orders are stored in one "
                    "transaction, bad ones are listed with the reason (a bad line refuses its order). "
                    "`order_id` is the idempotency key: the same order again is a duplicate, the same id "
                    "with changed values updates it. An update changes the fields the item names (null clears "
                    "one) and keeps the others: a status change needs `order_id`, `customer_id`, `placed_at` and "
                    "`status` only. Sent with `lines`, the order holds those lines and no others; sent without, "
                    "it keeps its lines. A `customer_id` of null, \"\", \"0\" or \"guest\" is a guest checkout, "
                    "stored under the shop's guest customer as in an orders file (for an order stored under a real "
                    "customer, that order's item); `guest_orders` counts them.",
        request={"application/json": batch_request_schema(OrderItemSerializer, max_items=MAX_ITEMS)},
        parameters=[_CREATE_MISSING],
        responses={200: BatchResultSerializer},
        examples=[
            OpenApiExample("orders", request_only=True, value=[
                {"order_id": "O-1001", "customer_id": "C00042", "placed_at": "2026-06-30T10:20:00Z",
                 "total": "59.90", "currency": "EUR", "status": "placed",
                 "lines": [{"product_id": "P001", "quantity": 2, "unit_price": "29.95"}]}]),
            _RESULT_EXAMPLE,
        ],
    )
    def post(self, request):
        items, create_missing = self._items(request)
        outcome = orders_ingest(shop=self.shop, items=items, create_missing=create_missing)
        return Response(outcome.as_dict(), status=status.HTTP_200_OK)


class ReviewBatchApi(_BatchApi):
    """Batch ingestion of reviews."""

    @extend_schema(
        operation_id="reviews_batch", summary="Store up to 10,000 reviews", tags=["ingestion"],
        description="Each review is validated with the CSV import's rules; good reviews are stored in one "
                    "transaction, bad ones are listed with the reason. `review_id` is the idempotency key: the "
                    "same review again is a duplicate, the same id with changed values updates the fields the "
                    "item names (null clears one; the others are kept). Customer and "
                    "product are optional; unknown ones are created as stand-ins unless `create_missing=false`.",
        request={"application/json": batch_request_schema(ReviewItemSerializer, max_items=MAX_ITEMS)},
        parameters=[_CREATE_MISSING],
        responses={200: BatchResultSerializer},
        examples=[
            OpenApiExample("reviews", request_only=True, value=[
                {"review_id": "R-1", "customer_id": "C00042", "product_id": "P001", "rating": 2,
                 "title": "Late", "text": "Arrived two weeks late and the box was crushed.",
                 "created_at": "2026-06-30T10:20:00Z", "language": "en"}]),
            _RESULT_EXAMPLE,
        ],
    )
    def post(self, request):
        items, create_missing = self._items(request)
        outcome = reviews_ingest(shop=self.shop, items=items, create_missing=create_missing)
        return Response(outcome.as_dict(), status=status.HTTP_200_OK)
