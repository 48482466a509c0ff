"""A customer's recommendations, a product's similar products, and starting a recommendation build."""

from __future__ import annotations

from collections import OrderedDict

from django.db import transaction
from django.db.models import F, Subquery
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.serializers import JobOutputSerializer
from accounts.api.views import JOB_EXAMPLE
from accounts.jobs import job_create
from accounts.models import Job
from behavior.models import Customer
from catalog.models import Product, VisualNeighbour
from ecomsight.api.pagination import DEFAULT_PAGE_SIZE, page_size_from
from ecomsight.api.views import PAGING, ShopApiMixin, query_names
from recommendations.models import Recommendation, RecommenderVersion, SimilarProduct

from ..selectors import active_version_id
from .selectors import customer_recommendation_rows
from .serializers import (
    RecommendationOutputSerializer,
    RecommendationsJobInputSerializer,
    SimilarFilterSerializer,
    SimilarOutputSerializer,
)

PRODUCT = {"id": "P001", "title": "Espresso beans 1 kg", "price": 18.9, "active": True}


def _active_version_subquery(shop) -> Subquery:
    return Subquery(RecommenderVersion.objects.filter(shop=shop, status=RecommenderVersion.Status.ACTIVE)
                    .order_by("-created_at", "-id").values("id")[:1])


# The columns a recommendation row shows, read with values(): no model instances on this hot path.
_ROW_COLUMNS = {"product_external_id": F("product__external_id"), "product_title": F("product__title"),
                "product_price": F("product__price"), "product_active": F("product__active")}


def _recommendation_row(row: dict) -> dict:
    # The shape of RecommendationOutputSerializer (which stays the documented schema), built as a dict.
    return {"rank": row["rank"],
            "product": {"id": row["product_external_id"], "title": row["product_title"],
                        "price": row["product_price"], "active": row["product_active"]},
            "score": row["score"], "source": row["source"], "reason": row["reason"]}


def _customer_exists(shop, customer_id: str) -> bool:
    return Customer.objects.filter(shop=shop, external_id=customer_id).exists()


def recommendations_first_page(*, shop, customer_id: str, size: int = DEFAULT_PAGE_SIZE) -> OrderedDict | None:
    """The first page when it holds all of the customer's recommendations (the usual call: k is 20 by default),
    in one SQL statement; None when there are more (the caller pages). Http404 for an unknown customer. With
    its defaults, the usual call's answer for ecomsight.api.hot."""
    rows = customer_recommendation_rows(shop=shop, customer_id=customer_id, limit=size + 1)
    if len(rows) > size:
        return None
    if not rows and not _customer_exists(shop, customer_id):
        raise Http404("No such customer.")
    return OrderedDict([("next", None), ("previous", None), ("results", rows)])


class CustomerRecommendationsApi(ShopApiMixin, generics.ListAPIView):
    """A customer's recommendations."""

    query_parameters = {"GET": query_names(*PAGING)}

    serializer_class = RecommendationOutputSerializer
    cursor_ordering = "rank"

    def get_queryset(self):
        # One query: the customer by the shop's id, the active build and the products, joined in SQL.
        return (Recommendation.objects
                .filter(customer__shop=self.shop, customer__external_id=self.kwargs["customer_id"],
                        version_id=_active_version_subquery(self.shop))
                .values("rank", "score", "source", "reason", **_ROW_COLUMNS))

    def _customer_exists(self) -> bool:
        return _customer_exists(self.shop, self.kwargs["customer_id"])

    def list(self, request, *args, **kwargs):
        if not request.query_params.get("cursor"):
            # The usual call: the first page holds all of them; anything longer goes through DRF's cursor
            # pagination below for its links.
            page = recommendations_first_page(shop=self.shop, customer_id=self.kwargs["customer_id"],
                                              size=page_size_from(request))
            if page is not None:
                return Response(page)
        try:
            page = self.paginate_queryset(self.get_queryset())
        except exceptions.ValidationError:
            if not self._customer_exists():  # an unknown customer is a 404 whatever the cursor says
                raise Http404("No such customer.") from None
            raise
        if not page and not self._customer_exists():  # the extra query only when there is nothing to show
            raise Http404("No such customer.")
        return self.get_paginated_response([_recommendation_row(row) for row in page])

    @extend_schema(operation_id="customer_recommendations", summary="A customer's recommendations, best first",
                   tags=["recommendations"],
                   parameters=[OpenApiParameter("customer_id", OpenApiTypes.STR, OpenApiParameter.PATH,
                                                description="The shop's own customer id.")],
                   examples=[OpenApiExample("recommendation", response_only=True, value={
                       "rank": 1, "product": PRODUCT, "score": 0.42, "source": "item_cf",
                       "reason": "Because they bought Espresso machine"})])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class ProductSimilarApi(ShopApiMixin, generics.ListAPIView):
    """Products similar to a product."""

    query_parameters = {"GET": query_names(SimilarFilterSerializer, *PAGING)}

    serializer_class = SimilarOutputSerializer
    cursor_ordering = "id"

    def get_queryset(self):
        query = SimilarFilterSerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        product_id = (Product.objects.filter(shop=self.shop, external_id=self.kwargs["product_id"])
                      .values_list("id", flat=True).first())
        if product_id is None:
            raise Http404("No such product.")
        filters = dict(query.validated_data)
        scope = filters.pop("scope", "overall")
        if filters.get("kind") == "visual":  # the catalogue's own table: there without a recommender build
            return VisualNeighbour.objects.filter(shop=self.shop, product_id=product_id, scope=scope) \
                .select_related("similar")
        version = active_version_id(shop_id=self.shop.pk)
        return (SimilarProduct.objects.filter(version_id=version, product_id=product_id, **filters)
                .select_related("similar"))

    @extend_schema(operation_id="product_similar", summary="Products similar to a product", tags=["recommendations"],
                   description="`also_bought`: bought by the same customers; `content`: similar title, "
                               "description and category; `visual`: pictures that look alike (nearest "
                               "embeddings, `scope=overall` or `category`). Without `kind`: also_bought and "
                               "content.",
                   parameters=[OpenApiParameter("product_id", OpenApiTypes.STR, OpenApiParameter.PATH,
                                                description="The shop's own product id."), SimilarFilterSerializer],
                   examples=[OpenApiExample("similar", response_only=True, value={
                       "kind": "also_bought", "rank": 1, "product": PRODUCT, "score": 0.31})])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class RecommendationsJobApi(ShopApiMixin, APIView):
    """Start a recommendation build."""


    required_roles = {"POST": "analyst"}
    body_serializers = {"POST": RecommendationsJobInputSerializer}

    @extend_schema(operation_id="jobs_recommendations", summary="Start building recommendations", tags=["jobs"],
                   request=RecommendationsJobInputSerializer, responses={202: JobOutputSerializer},
                   examples=[OpenApiExample("build", request_only=True, value={"k": 20}),
                             OpenApiExample("accepted", response_only=True, status_codes=["202"],
                                            value={**JOB_EXAMPLE, "kind": "recommend", "status": "pending"})])
    def post(self, request):
        data = RecommendationsJobInputSerializer(data=request.data if request.data is not None else {})
        data.is_valid(raise_exception=True)
        k = data.validated_data["k"]
        shop = self.shop
        with transaction.atomic():
            job = job_create(shop=shop, kind=Job.Kind.RECOMMEND, user=request.user, params={"k": k})
            from recommendations.tasks import recommendations_build_task

            transaction.on_commit(lambda: recommendations_build_task.delay(shop.pk, k, job.pk), robust=True)
        return Response(JobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED,
                        headers={"Location": f"/api/v1/jobs/{job.pk}/"})
