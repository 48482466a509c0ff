"""Scores, the at-risk list, segments (CRUD, members, CSV export), models, and training / scoring jobs.

Thin views: parse the query or body, call a selector or service of predictions, render the result."""

from __future__ import annotations

import functools

from django.db import transaction
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.utils.text import slugify
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import exceptions, generics, renderers, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.serializers import JobOutputSerializer
from accounts.api.views import JOB_EXAMPLE
from accounts.jobs import job_create
from accounts.models import Job
from accounts.selectors import role_allows
from behavior.selectors import customer_exists
from ecomsight.api.pagination import (
    CURSOR_PARAMETERS,
    ApiCursorPagination,
    SnapshotCursorPagination,
    paginate_or_404,
)
from ecomsight.api.permissions import request_personal_data, request_role
from ecomsight.api.renderers import JSONRenderer
from ecomsight.api.schema import documented_get
from ecomsight.api.views import (
    PAGING,
    ShopApiMixin,
    query_dict,
    query_items,
    query_names,
    query_validated,
)
from predictions.filters import AtRiskFilter
from predictions.models import ModelVersion, Segment
from predictions.selectors.at_risk import filter_resolved, scoring_run_current
from predictions.selectors.at_risk_pages import at_risk_list_length, at_risk_list_window
from predictions.selectors.interests import customer_interests_current
from predictions.selectors.scores import customer_score_history, score_row, scores_by_task
from predictions.selectors.segments import (
    segment_consent_refused_count,
    segment_get,
    segment_list_length,
    segment_list_window,
    segment_size,
)
from predictions.services import exports
from predictions.services.export_presets import file_format
from predictions.services.scoring import scoring_run_create
from predictions.services.segments import (
    export_create,
    segment_create,
    segment_delete,
    segment_filters_update,
    segment_rename,
)
from predictions.services.training import model_version_promote, parse_algorithms, resolve_as_of

from .pages import Page, at_risk_first_page, page_of, page_rows_for
from .serializers import (
    AtRiskFilterSerializer,
    AtRiskRowSerializer,
    CurrentScoresSerializer,
    CustomerInterestsSerializer,
    ExportQuerySerializer,
    ModelFilterSerializer,
    ModelOutputSerializer,
    ScoreHistoryFilterSerializer,
    ScoreInputSerializer,
    ScoreOutputSerializer,
    ScoringRunRefSerializer,
    SegmentInputSerializer,
    SegmentOutputSerializer,
    SegmentPatchSerializer,
    TrainInputSerializer,
    interests_data,
    score_data,
    web_query,
)

CUSTOMER_ID = OpenApiParameter("customer_id", OpenApiTypes.STR, OpenApiParameter.PATH,
                               description="The shop's own customer id.")
SEGMENT_ID = OpenApiParameter("segment_id", OpenApiTypes.INT, OpenApiParameter.PATH)
MODEL_ID = OpenApiParameter("model_id", OpenApiTypes.INT, OpenApiParameter.PATH)

ROW_EXAMPLE = {
    "customer_id": "C00042", "email": None, "name": None, "country": "DE", "churn_probability": 0.81,
    "purchase_probability": 0.07, "risk_band": "high", "spend_12m": 420.0, "revenue_at_risk": 340.2,
    "last_order_at": "2026-03-28T12:00:00Z", "days_since_last_order": 94,
    "reasons": ["No order for 94 days; usually every 21"],
}
SCORE_EXAMPLE = {
    "task": "churn", "probability": 0.81, "risk_band": "high", "decile": 1,
    "reasons": ["No order for 94 days; usually every 21"], "expected_orders": 0.3, "p_alive": 0.4,
    "spend_12m": 420.0, "revenue_at_risk": 340.2, "scored_at": "2026-06-30T23:59:59Z",
    "as_of": "2026-06-30T23:59:59Z", "scoring_run": 7, "model_version": 3, "lapsed": False,
}
SEGMENT_EXAMPLE = {"id": 5, "name": "High risk, big spenders", "filters": {"bands": ["high"], "value_min": 200.0},
                   "size": 1234, "created_at": "2026-06-30T10:00:00Z", "updated_at": "2026-06-30T10:00:00Z"}
MODEL_EXAMPLE = {
    "id": 3, "task": "churn", "algorithm": "lgbm", "horizon_days": 90, "as_of": "2026-06-30",
    "train_cutoffs": ["2025-12-31", "2026-01-31"], "validation_cutoff": "2026-03-31", "status": "champion",
    "metrics": {"roc_auc": 0.82, "pr_auc": 0.61, "lift_top_decile": 3.4}, "comparison": {},
    "features": ["recency_days", "orders_365d"], "created_at": "2026-06-30T11:00:00Z",
    "promoted_at": "2026-06-30T11:05:00Z", "job": 41,
}


def _snapshot_schema(row_serializer, name: str):
    return inline_serializer(name, {
        "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True),
        "scoring_run": ScoringRunRefSerializer(allow_null=True),
        "results": row_serializer(many=True),
    })


class _SnapshotListMixin:
    """Lists of the at-risk list's rows in one scoring run, paged by SnapshotCursorPagination."""

    pagination_class = SnapshotCursorPagination

    def snapshot_page(self, request, window_of, *, first_page=None, length_of=None) -> Response:
        """The page of the list whose rows start to stop - 1 in the run `run_id` names (None: the shop's current
        run) are `window_of(run_id, start, stop)` (an AtRiskWindow: the run found, and its rows). The first page
        of the current run comes from `first_page(stop, read)` when given (the kept at-risk pages). A page empty for
        starting past the list's end asks `length_of(run_id)` how long the list is, so that `previous` leads back
        to its last page."""
        paginator = SnapshotCursorPagination()
        run_id, offset = paginator.start(request)
        stop = offset + paginator.page_size + 1

        def read() -> Page:
            return page_of(window_of(run_id, offset, stop))

        page = first_page(stop, read) if first_page is not None and run_id is None and offset == 0 else read()
        if run_id is not None and page.run is None:
            raise exceptions.ValidationError({"cursor": [exceptions.ErrorDetail(
                "The scores this cursor paged through are gone: start again without a cursor.",
                code="invalid_cursor")]})
        rows = paginator.paginate_rows(page.rows, run_id=page.run["id"] if page.run else None, offset=offset)
        if length_of is not None and paginator.past_the_end():
            paginator.ends_at(length_of(page.run["id"]))
        return Response(paginator.paginated_data(page_rows_for(rows, personal=request_personal_data(request)),
                                                 extra={"scoring_run": page.run}))


_AT_RISK_FILTER_NAMES = query_names(AtRiskFilterSerializer)


def at_risk_filter(params) -> AtRiskFilter:
    """The at-risk filter an API query asks for (a 400 for a value it does not take). The same query is validated
    once per process: the answer depends on the filter's parameters alone, and validating them (DRF copies the
    serializer's 18 fields on every call) cost 0.36 ms of an at-risk call's ~2.5 ms of CPU."""
    return _at_risk_filter(query_items(params, _AT_RISK_FILTER_NAMES))


@functools.lru_cache(maxsize=512)
def _at_risk_filter(items: tuple[tuple[str, tuple[str, ...]], ...]) -> AtRiskFilter:
    # Only a valid query is kept (lru_cache keeps no exception): an invalid one is validated again each time.
    params = query_dict(items)
    validated = query_validated(AtRiskFilterSerializer, params)
    flt = AtRiskFilter.from_query(web_query(params, validated))
    if flt.errors:
        raise filter_invalid(flt)
    return flt


def filter_invalid(flt: AtRiskFilter, *, under: str = "") -> exceptions.ValidationError:
    """The 400 of a filter that does not validate: its first problem, on the parameter it concerns (`under`: the
    body field holding the filter, "filters.churn_min"). The filter's own checks (an empty range, `category_min`
    without `category`) have no serializer field to name: without this the error said `field: null`."""
    error = flt.errors[0]
    return exceptions.ValidationError({f"{under}.{error.field}" if under else error.field: [
        exceptions.ErrorDetail(str(error), code="invalid")]})


class AtRiskApi(ShopApiMixin, _SnapshotListMixin, APIView):
    """The at-risk list."""

    query_parameters = {"GET": query_names(AtRiskFilterSerializer, *PAGING)}

    @extend_schema(
        operation_id="at_risk_list", summary="The at-risk list (the web page's filters)", tags=["scores"],
        description="Churn-scored customers of the current scoring run, filtered and sorted like the at-risk "
                    "page. The cursor keeps paging through the same run even when a newer one lands.",
        parameters=[AtRiskFilterSerializer, *CURSOR_PARAMETERS],
        responses=_snapshot_schema(AtRiskRowSerializer, "AtRiskPage"),
        examples=[OpenApiExample("page", value={"next": None, "previous": None,
                                                "scoring_run": {"id": 7, "as_of": "2026-06-30T23:59:59Z"},
                                                "results": [ROW_EXAMPLE]})],
    )
    def get(self, request):
        flt = filter_resolved(shop=self.shop, flt=at_risk_filter(request.query_params))  # a category path → its id
        if flt.errors:
            raise filter_invalid(flt)
        if flt.segment is not None:
            segment_get(shop=self.shop, segment_id=flt.segment)  # 404 for a segment the shop does not have
        return self.snapshot_page(
            request, lambda run_id, start, stop: at_risk_list_window(
                shop=self.shop, flt=flt, run_id=run_id, start=start, stop=stop),
            first_page=lambda stop, read: at_risk_first_page(shop=self.shop, flt=flt, stop=stop, read=read),
            length_of=lambda run_id: at_risk_list_length(shop=self.shop, flt=flt, run_id=run_id))


class CustomerScoresApi(ShopApiMixin, APIView):
    """A customer's scores: current and history."""

    cursor_ordering = ("-scored_at", "-id")
    query_parameters = {"GET": query_names(ScoreHistoryFilterSerializer, *PAGING)}

    @extend_schema(
        operation_id="customer_scores", summary="A customer's current scores and score history", tags=["scores"],
        parameters=[CUSTOMER_ID, ScoreHistoryFilterSerializer,
                    *CURSOR_PARAMETERS],
        responses=inline_serializer("CustomerScoresPage", {
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "current": CurrentScoresSerializer(help_text="The scores of the shop's current scoring run."),
            "results": ScoreOutputSerializer(many=True, help_text="Every score of the customer, newest first."),
        }),
        examples=[OpenApiExample("scores", value={
            "next": None, "previous": None, "current": {"churn": SCORE_EXAMPLE, "purchase": None},
            "results": [SCORE_EXAMPLE]})],
    )
    def get(self, request, customer_id: str):
        query = query_validated(ScoreHistoryFilterSerializer, request.query_params)
        paginator, current = ApiCursorPagination(), []
        page = paginate_or_404(
            paginator, customer_score_history(shop=self.shop, customer_id=customer_id, current=current, **query),
            request, self, exists=lambda: customer_exists(shop=self.shop, external_id=customer_id),
            message="No such customer.")
        response = paginator.get_paginated_response([score_data(score_row(row)) for row in page])
        response.data["current"] = {task: score_data(score) for task, score in scores_by_task(current).items()}
        return response


class CustomerInterestsApi(ShopApiMixin, APIView):
    """A customer's interest profile: their strongest categories and brands."""

    @extend_schema(
        operation_id="customer_interests", summary="A customer's category and brand interests", tags=["scores"],
        description="Time-decayed shares of what the customer bought and viewed, per category (a category holds "
                    "those below it) and per brand, from the shop's current scoring run. Filter the at-risk list "
                    "on one with `category` and `category_min`, or `brand` and `brand_min`.",
        parameters=[CUSTOMER_ID], responses=CustomerInterestsSerializer,
        examples=[OpenApiExample("interests", value={
            "scoring_run": {"id": 7, "as_of": "2026-06-30T23:59:59Z"},
            "categories": [{"id": 12, "path": "Home", "share": 0.62}, {"id": 14, "path": "Home > Kitchen",
                                                                         "share": 0.41}],
            "brands": [{"brand": "Acme", "share": 0.35}]})],
    )
    def get(self, request, customer_id: str):
        profile = customer_interests_current(shop=self.shop, external_id=customer_id)
        if profile is None:
            raise exceptions.NotFound("No such customer.")
        return Response(interests_data(profile))


@documented_get(operation_id="segments_list", summary="The shop's segments (saved filters)", tags=["segments"],
                examples=[OpenApiExample("segment", value={**SEGMENT_EXAMPLE, "size": None}, response_only=True)])
class SegmentListApi(ShopApiMixin, generics.ListAPIView):
    """Segments: list and create."""

    required_roles = {"GET": "marketer", "POST": "marketer"}
    body_serializers = {"POST": SegmentInputSerializer}
    serializer_class = SegmentOutputSerializer
    cursor_ordering = "name"
    query_parameters = {"GET": query_names(*PAGING)}
    def get_queryset(self):
        return Segment.objects.filter(shop=self.shop)

    @extend_schema(operation_id="segments_create", summary="Save a filter as a segment", tags=["segments"],
                   request=SegmentInputSerializer, responses={201: SegmentOutputSerializer},
                   examples=[OpenApiExample("create", request_only=True, value={
                       "name": "High risk, big spenders", "filters": {"bands": ["high"], "value_min": 200}}),
                       OpenApiExample("created", response_only=True, status_codes=["201"], value=SEGMENT_EXAMPLE)])
    def post(self, request):
        data = SegmentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        flt = _filter_from(data.validated_data.get("filters") or {}, shop=self.shop)
        segment = segment_create(shop=self.shop, user=request.user, name=data.validated_data["name"], flt=flt)
        return Response(_segment_out(segment, with_size=True), status=status.HTTP_201_CREATED)


def _filter_from(filters: dict, *, shop) -> AtRiskFilter:
    """A body's filter to save: a category path is saved as its id (as the page saves it)."""
    flt = filter_resolved(shop=shop, flt=AtRiskFilter.from_dict(filters))
    if flt.errors:
        raise filter_invalid(flt, under="filters")
    return flt


def _segment_out(segment: Segment, *, with_size: bool) -> dict:
    data = SegmentOutputSerializer(segment).data
    if with_size:
        data["size"] = segment_size(shop=segment.shop, segment=segment)
    return data


class SegmentDetailApi(ShopApiMixin, APIView):
    """One segment: read, update, delete."""

    required_roles = {"GET": "marketer", "PUT": "marketer", "PATCH": "marketer", "DELETE": "marketer"}
    body_serializers = {"PUT": SegmentInputSerializer, "PATCH": SegmentPatchSerializer}

    def _segment(self, segment_id: int) -> Segment:
        return segment_get(shop=self.shop, segment_id=segment_id)

    @extend_schema(operation_id="segments_retrieve", summary="A segment with its live size", tags=["segments"],
                   parameters=[SEGMENT_ID], responses=SegmentOutputSerializer,
                   examples=[OpenApiExample("segment", value=SEGMENT_EXAMPLE)])
    def get(self, request, segment_id: int):
        return Response(_segment_out(self._segment(segment_id), with_size=True))

    def _update(self, request, segment_id: int, *, partial: bool):
        segment = self._segment(segment_id)
        data = (SegmentPatchSerializer if partial else SegmentInputSerializer)(data=request.data)
        data.is_valid(raise_exception=True)
        with transaction.atomic():
            if "name" in data.validated_data:
                segment = segment_rename(shop=self.shop, segment=segment, user=request.user,
                                         name=data.validated_data["name"])
            if "filters" in data.validated_data or not partial:
                segment = segment_filters_update(shop=self.shop, segment=segment, user=request.user,
                                                 flt=_filter_from(data.validated_data.get("filters") or {},
                                                                  shop=self.shop))
        return Response(_segment_out(segment, with_size=True))

    @extend_schema(operation_id="segments_update", summary="Replace a segment's name and filter", tags=["segments"],
                   parameters=[SEGMENT_ID], request=SegmentInputSerializer, responses=SegmentOutputSerializer,
                   examples=[OpenApiExample("segment", value=SEGMENT_EXAMPLE, response_only=True)])
    def put(self, request, segment_id: int):
        return self._update(request, segment_id, partial=False)

    @extend_schema(operation_id="segments_partial_update", summary="Rename a segment or change its filter",
                   tags=["segments"], parameters=[SEGMENT_ID], request=SegmentPatchSerializer,
                   responses=SegmentOutputSerializer,
                   examples=[OpenApiExample("rename", request_only=True, value={"name": "Win-back June"}),
                             OpenApiExample("segment", value=SEGMENT_EXAMPLE, response_only=True)])
    def patch(self, request, segment_id: int):
        return self._update(request, segment_id, partial=True)

    @extend_schema(operation_id="segments_destroy", summary="Delete a segment (its past exports stay)",
                   tags=["segments"], parameters=[SEGMENT_ID], responses={204: None})
    def delete(self, request, segment_id: int):
        segment_delete(shop=self.shop, segment=self._segment(segment_id), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SegmentMembersApi(ShopApiMixin, _SnapshotListMixin, APIView):
    """A segment's members."""

    query_parameters = {"GET": query_names(*PAGING)}

    @extend_schema(operation_id="segments_members", summary="A segment's members in the current scores",
                   tags=["segments"],
                   parameters=[SEGMENT_ID, *CURSOR_PARAMETERS],
                   responses=_snapshot_schema(AtRiskRowSerializer, "SegmentMembersPage"),
                   examples=[OpenApiExample("page", value={
                       "next": None, "previous": None, "scoring_run": {"id": 7, "as_of": "2026-06-30T23:59:59Z"},
                       "results": [ROW_EXAMPLE]})])
    def get(self, request, segment_id: int):
        segment = segment_get(shop=self.shop, segment_id=segment_id)
        response = self.snapshot_page(request, lambda run_id, start, stop: segment_list_window(
            shop=self.shop, segment=segment, run_id=run_id, start=start, stop=stop),
            length_of=lambda run_id: segment_list_length(shop=self.shop, segment=segment, run_id=run_id))
        # Customers the filter matches who refused marketing are never members; how many:
        response["X-Left-Out-No-Consent"] = str(segment_consent_refused_count(
            shop=self.shop, segment=segment, run=scoring_run_current(shop=self.shop)))
        return response


class CSVRenderer(renderers.BaseRenderer):
    """Lets `Accept: text/csv` through content negotiation; errors still render as JSON text."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return JSONRenderer().render(data)


class SegmentExportApi(ShopApiMixin, APIView):
    """A segment as CSV."""

    query_parameters = {"GET": query_names(ExportQuerySerializer, "format")}

    renderer_classes = [JSONRenderer, CSVRenderer]

    def handle_exception(self, exc):
        """Render errors as JSON whatever the negotiated format."""
        response = super().handle_exception(exc)
        # `?format=csv` makes DRF pick the CSV renderer for everything, errors included: errors are JSON.
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = "application/json"
        return response

    def _checked(self, request, segment_id: int):
        segment = segment_get(shop=self.shop, segment_id=segment_id)
        query = ExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        if not role_allows(request_role(request), "export_segments"):
            raise exceptions.PermissionDenied("Your role may not export segments.")
        return segment, query

    def head(self, request, segment_id: int):
        """Whether the export would be served, without making one: GET makes, records and audits it (a HEAD
        answered by GET recorded an export nobody downloaded)."""
        self._checked(request, segment_id)
        return HttpResponse(content_type="text/csv; charset=utf-8")

    @extend_schema(
        operation_id="segments_export", summary="Export a segment as CSV (streamed, audited)", tags=["segments"],
        description="The same file as the web export, with the columns of `preset`: generic (customer_id, email, "
                    "name, churn_probability, purchase_probability, risk_band, revenue_at_risk, reasons, rec_1 and "
                    "rec_1_product_id / rec_1_url / rec_1_image_url .. rec_3, offer_id), klaviyo, mailchimp, braze, "
                    "spreadsheet (for Excel in any language: UTF-16 with a byte-order mark, tab-separated, chances "
                    "as whole percents, revenue at risk in whole units; Content-Type text/csv; charset=utf-16). "
                    "Personal data only for roles allowed to see it (otherwise no email or name columns but a "
                    "pseudonym column); safe to open in a spreadsheet. The file can be downloaded again from its "
                    "web page until FILE_RETENTION_DAYS. "
                    "Every export is recorded (SegmentExport) and written to the audit log.",
        parameters=[SEGMENT_ID, ExportQuerySerializer],
        responses={(200, "text/csv"): OpenApiResponse(response=OpenApiTypes.STR, description="The CSV file.",
                                                      examples=[OpenApiExample("csv", value=(
                                                          "customer_id,pseudonym,churn_probability,...\r\n"
                                                          "C00042,anon-3f2a...,0.81,...\r\n"))])},
    )
    def get(self, request, segment_id: int):
        segment, query = self._checked(request, segment_id)
        plan = export_create(shop=self.shop, segment=segment, user=request.user,
                             pseudonymise=query.validated_data["pseudonymise"],
                             control_pct=query.validated_data["control"], preset=query.validated_data["preset"],
                             include_ordered_since_scoring=query.validated_data["include_ordered_since_scoring"],
                             include_flagged=query.validated_data["include_flagged"])
        filename = f"{slugify(segment.name) or 'segment'}-{plan.export.created_at:%Y%m%d}-{plan.export.pk}.csv"
        response = StreamingHttpResponse(exports.export_stream(plan=plan),
                                         content_type=file_format(plan.export.preset).content_type)
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        # Customers the segment matches who refused marketing are not in the file; how many:
        response["X-Left-Out-No-Consent"] = str(plan.left_out_no_consent)
        response["X-Left-Out-Ordered-Since-Scoring"] = str(plan.left_out_ordered_since_scoring)
        response["X-Left-Out-Flagged"] = str(plan.left_out_flagged)
        return response


@documented_get(operation_id="models_list", summary="Model versions with their metrics, newest first",
                tags=["models"], parameters=[ModelFilterSerializer],
                examples=[OpenApiExample("model", value=MODEL_EXAMPLE, response_only=True)])
class ModelListApi(ShopApiMixin, generics.ListAPIView):
    """Model versions."""

    query_parameters = {"GET": query_names(ModelFilterSerializer, *PAGING)}

    serializer_class = ModelOutputSerializer
    cursor_ordering = "-created_at"

    def get_queryset(self):
        query = ModelFilterSerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return ModelVersion.objects.filter(shop=self.shop, **query.validated_data)


@documented_get(operation_id="models_retrieve", summary="One model version", tags=["models"],
                parameters=[MODEL_ID], examples=[OpenApiExample("model", value=MODEL_EXAMPLE)])
class ModelDetailApi(ShopApiMixin, generics.RetrieveAPIView):
    """One model version."""

    serializer_class = ModelOutputSerializer
    lookup_url_kwarg = "model_id"

    def get_queryset(self):
        return ModelVersion.objects.filter(shop=self.shop)


class ModelPromoteApi(ShopApiMixin, APIView):
    """Promote a model version to champion."""

    required_roles = {"POST": "analyst"}

    @extend_schema(operation_id="models_promote", summary="Make a model version the champion (audited)",
                   tags=["models"], parameters=[MODEL_ID], request=None, responses=ModelOutputSerializer,
                   examples=[OpenApiExample("promoted", value=MODEL_EXAMPLE)])
    def post(self, request, model_id: int):
        version = ModelVersion.objects.filter(shop=self.shop, pk=model_id).first()
        if version is None:
            raise Http404("No such model version.")
        if version.status == ModelVersion.Status.CHAMPION:
            return Response(ModelOutputSerializer(version).data)
        version = model_version_promote(version=version, user=request.user, reason="promoted through the API")
        return Response(ModelOutputSerializer(version).data)


def _accepted(job: Job) -> Response:
    return Response(JobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED,
                    headers={"Location": f"/api/v1/jobs/{job.pk}/"})


class TrainJobApi(ShopApiMixin, APIView):
    """Start training."""

    required_roles = {"POST": "analyst"}
    body_serializers = {"POST": TrainInputSerializer}

    @extend_schema(operation_id="jobs_train", summary="Start training (returns the job to poll)", tags=["jobs"],
                   request=TrainInputSerializer, responses={202: JobOutputSerializer},
                   examples=[OpenApiExample("train", request_only=True,
                                            value={"task": "churn", "horizon_days": 90, "algorithms": ["lgbm"]}),
                             OpenApiExample("accepted", response_only=True, status_codes=["202"],
                                            value={**JOB_EXAMPLE, "status": "pending", "started_at": None})])
    def post(self, request):
        data = TrainInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        algorithms = list(parse_algorithms(d.get("algorithms"))) if d.get("algorithms") else None
        horizon = d.get("horizon_days")
        shop = self.shop
        # refused now (400), as jobs/score/ does, not by a job that fails later
        as_of = resolve_as_of(shop=shop, as_of=d["as_of"]).date().isoformat() if d.get("as_of") else None
        with transaction.atomic():
            job = job_create(shop=shop, kind=Job.Kind.TRAIN, user=request.user,
                             params={"task": d["task"], "horizon_days": horizon, "as_of": as_of,
                                     "algorithms": algorithms})
            from predictions.tasks import model_train_task

            transaction.on_commit(lambda: model_train_task.delay(shop.pk, d["task"], horizon, as_of, algorithms,
                                                                 job.pk), robust=True)
        return _accepted(job)


class ScoreJobApi(ShopApiMixin, APIView):
    """Start scoring."""

    required_roles = {"POST": "analyst"}
    body_serializers = {"POST": ScoreInputSerializer}

    @extend_schema(operation_id="jobs_score", summary="Start a scoring run with the champions", tags=["jobs"],
                   request=ScoreInputSerializer, responses={202: JobOutputSerializer},
                   examples=[OpenApiExample("score", request_only=True, value={}),
                             OpenApiExample("accepted", response_only=True, status_codes=["202"],
                                            value={**JOB_EXAMPLE, "kind": "score", "status": "pending"})])
    def post(self, request):
        data = ScoreInputSerializer(data=request.data if request.data is not None else {})
        data.is_valid(raise_exception=True)
        run = scoring_run_create(shop=self.shop, as_of=data.validated_data.get("as_of"), user=request.user,
                                 enqueue=True)
        return _accepted(Job.objects.get(pk=run.job_id))
