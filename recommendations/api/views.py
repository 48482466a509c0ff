"""A customer's recommendations, a product's similar products, and starting a recommendation build."""

from __future__ import annotations

from django.db import transaction
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.serializers import JobOutputSerializer
from accounts.api.views import JOB_EXAMPLE
from accounts.jobs import job_create
from accounts.models import Job
from behavior.selectors import customer_exists
from catalog.models import Product, VisualNeighbour
from ecomsight.api.fields import PROBABILITY_PLACES, rounded
from ecomsight.api.pagination import paginate_or_404
from ecomsight.api.schema import documented_get
from ecomsight.api.views import PAGING, ShopApiMixin, query_names
from recommendations.models import SimilarProduct

from ..selectors import customer_recommendations_values, recommender_version_active
from .serializers import (
    RecommendationOutputSerializer,
    RecommendationsJobInputSerializer,
    SimilarFilterSerializer,
    SimilarOutputSerializer,
)

PRODUCT = {"id": "P001", "title": "Espresso beans 1 kg", "price": 18.9, "active": True}


def _recommendation_row(row: dict) -> dict:
    # The shape of RecommendationOutputSerializer (which stays the documented schema), built as a dict.
    return {"rank": row["rank"],
            "product": {"id": row["product_external_id"], "title": row["product_title"],
                        "price": row["product_price"], "active": row["product_active"]},
            "score": rounded(row["score"], PROBABILITY_PLACES), "source": row["source"], "reason": row["reason"]}


@documented_get(operation_id="customer_recommendations", summary="A customer's recommendations, best first",
                tags=["recommendations"],
                parameters=[OpenApiParameter("customer_id", OpenApiTypes.STR, OpenApiParameter.PATH,
                                             description="The shop's own customer id.")],
                examples=[OpenApiExample("recommendation", response_only=True, value={
                    "rank": 1, "product": PRODUCT, "score": 0.42, "source": "item_cf",
                    "reason": "Because they bought Espresso machine"})])
class CustomerRecommendationsApi(ShopApiMixin, generics.ListAPIView):
    """A customer's recommendations."""

    query_parameters = {"GET": query_names(*PAGING)}

    serializer_class = RecommendationOutputSerializer
    cursor_ordering = "rank"

    def list(self, request, customer_id: str):
        page = paginate_or_404(
            self.paginator, customer_recommendations_values(shop=self.shop, customer_id=customer_id), request, self,
            exists=lambda: customer_exists(shop=self.shop, external_id=customer_id), message="No such customer.")
        return self.get_paginated_response([_recommendation_row(row) for row in page])


@documented_get(operation_id="product_similar", summary="Products similar to a product", tags=["recommendations"],
                description="`also_bought`: bought by the same customers; `content`: similar title, "
                            "description and category; `visual`: pictures that look alike (nearest "
                            "embeddings, `scope=overall` or `category`). Without `kind`: also_bought and "
                            "content.",
                parameters=[OpenApiParameter("product_id", OpenApiTypes.STR, OpenApiParameter.PATH,
                                             description="The shop's own product id."), SimilarFilterSerializer],
                examples=[OpenApiExample("similar", response_only=True, value={
                    "kind": "also_bought", "rank": 1, "product": PRODUCT, "score": 0.31})])
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
        version = recommender_version_active(shop=self.shop)
        return (SimilarProduct.objects.filter(version_id=version, product_id=product_id, **filters)
                .select_related("similar"))


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
