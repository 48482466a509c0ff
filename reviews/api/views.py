"""The shop's reviews with their sentiment and aspects, filtered by product, customer, sentiment, aspect."""

from drf_spectacular.utils import OpenApiExample
from rest_framework import generics

from ecomsight.api.schema import documented_get
from ecomsight.api.views import PAGING, ShopApiMixin, query_names

from ..selectors import review_list
from .serializers import ReviewFilterSerializer, ReviewOutputSerializer

REVIEW_EXAMPLE = {"id": "R-1", "customer_id": "C00042", "product_id": "P001", "rating": 2, "title": "Late",
                  "text": "Arrived two weeks late and the box was crushed.", "created_at": "2026-06-30T10:20:00Z",
                  "language": "en", "sentiment": "negative", "positive_probability": 0.08,
                  "aspects": ["delivery", "packaging"], "analyzed_at": "2026-07-01T02:00:00Z"}


@documented_get(operation_id="reviews_list", summary="Reviews with sentiment and aspects", tags=["reviews"],
                parameters=[ReviewFilterSerializer],
                examples=[OpenApiExample("review", value=REVIEW_EXAMPLE, response_only=True)])
class ReviewListApi(ShopApiMixin, generics.ListAPIView):
    """The shop's reviews, newest first by import order."""

    serializer_class = ReviewOutputSerializer
    cursor_ordering = "-id"
    query_parameters = {"GET": query_names(ReviewFilterSerializer, *PAGING)}

    def get_queryset(self):
        query = ReviewFilterSerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return review_list(shop=self.shop, **query.validated_data).order_by("-id")
