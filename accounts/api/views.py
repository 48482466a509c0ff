"""The caller (`me`) and background jobs (list, status and progress)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import generics
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Job
from ecomsight.api.schema import documented_get
from ecomsight.api.views import PAGING, ShopApiMixin, query_names

from .serializers import JobFilterSerializer, JobOutputSerializer, MeOutputSerializer

JOB_EXAMPLE = {
    "id": 42, "kind": "train", "status": "running", "progress": 0.5, "progress_done": 1, "progress_total": 2,
    "message": "training lightgbm", "error": "", "params": {"task": "churn", "horizon_days": 90}, "result": {},
    "created_at": "2026-06-30T10:00:00Z", "started_at": "2026-06-30T10:00:01Z", "finished_at": None,
}


class MeApi(ShopApiMixin, APIView):
    """The caller: user, role, shop and token."""

    required_roles = {"GET": "marketer"}

    @extend_schema(operation_id="me", summary="Who is calling: user, role, shop and token", tags=["account"],
                   responses=MeOutputSerializer,
                   examples=[OpenApiExample("token", value={
                       "username": "ana", "role": "analyst", "shop": "acme",
                       "token": {"name": "crm sync", "prefix": "es_AbC123xy", "expires_at": None}})])
    def get(self, request):
        token = request.auth if hasattr(request.auth, "key_hash") else None
        return Response({
            "username": request.user.get_username(), "role": self.role, "shop": self.shop.slug,
            "token": {"name": token.name, "prefix": token.prefix,
                      "expires_at": token.expires_at} if token else None,
        })


@documented_get(operation_id="jobs_list", summary="Background jobs of the shop, newest first", tags=["jobs"],
                parameters=[JobFilterSerializer],
                examples=[OpenApiExample("page", value={"next": None, "previous": None, "results": [JOB_EXAMPLE]},
                                         response_only=True)])
class JobListApi(ShopApiMixin, generics.ListAPIView):
    """The shop's background jobs."""

    query_parameters = {"GET": query_names(JobFilterSerializer, *PAGING)}

    serializer_class = JobOutputSerializer
    cursor_ordering = "-created_at"

    def get_queryset(self):
        query = JobFilterSerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return Job.objects.filter(shop=self.shop, **query.validated_data)


@documented_get(operation_id="jobs_retrieve", summary="A job's status and progress", tags=["jobs"],
                examples=[OpenApiExample("running", value=JOB_EXAMPLE)])
class JobDetailApi(ShopApiMixin, generics.RetrieveAPIView):
    """One background job: status and progress."""

    serializer_class = JobOutputSerializer
    lookup_url_kwarg = "job_id"

    def get_queryset(self):
        return Job.objects.filter(shop=self.shop)
