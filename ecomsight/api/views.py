"""The base of every API view (shop, role, input hygiene) and the health check."""

from __future__ import annotations

import functools
from types import MappingProxyType

from django.http import QueryDict
from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from .permissions import request_role, request_shop


def _bad_text(value) -> bool:
    # NUL cannot be stored by PostgreSQL and lone surrogates cannot be encoded: both would be a 500.
    return isinstance(value, str) and ("\x00" in value or (not value.isascii() and _unencodable(value)))


def _unencodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def reject_bad_text(data, path: str = "") -> None:
    """Raise a 400 naming the field when any string in `data` (nested) holds NUL or a lone surrogate."""
    if isinstance(data, dict):
        for key, value in data.items():
            if _bad_text(key):
                raise exceptions.ValidationError({path or "body": ["Text may not contain NUL or invalid characters."]})
            reject_bad_text(value, f"{path}.{key}" if path else str(key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            reject_bad_text(value, f"{path}.{index}" if path else str(index))
    elif _bad_text(data):
        raise exceptions.ValidationError({path or "body": ["Text may not contain NUL or invalid characters."]})


# Query parameters whose empty value means something documented: `cursor=` is the first page.
_EMPTY_ALLOWED = frozenset({"cursor"})


def declared_only(field: serializers.Field, data):
    """`data` without the keys `field` (a serializer, list or plain field) does not declare.

    A serializer drops undeclared keys, so their text is never stored: a NUL in an unknown key is no
    reason to refuse a body the schema allows (it permits additional properties)."""
    if isinstance(field, serializers.Serializer) and isinstance(data, dict):
        return {key: declared_only(field.fields[key], value) for key, value in data.items() if key in field.fields}
    if isinstance(field, serializers.ListSerializer | serializers.ListField) and isinstance(data, list):
        return [declared_only(field.child, value) for value in data]
    return data


def query_check(params) -> None:
    """Raise a 400 for a query parameter that is blank (but `cursor`) or holds NUL or a lone surrogate."""
    for key, values in params.lists():
        for value in values:
            if value == "" and key not in _EMPTY_ALLOWED:
                # DRF would read `?status=` as "no filter" while the schema documents a non-empty value;
                # refuse it so a client's blank form field is an error it sees, not a silently wider list.
                raise exceptions.ValidationError({key: [exceptions.ErrorDetail(
                    "An empty value is not allowed: leave the parameter out instead.", code="blank")]})
            if _bad_text(value):
                raise exceptions.ValidationError({key: ["Text may not contain NUL or invalid characters."]})


# DRF's own parameter (`?format=json` picks the renderer), known to every endpoint.
_ALWAYS_KNOWN = frozenset({"format"})
PAGING = ("cursor", "page_size")


def query_names(*items) -> frozenset[str]:
    """The parameter names of `items`: names, or serializer classes (their fields)."""
    names: set[str] = set()
    for item in items:
        names.update([item] if isinstance(item, str) else item().fields)
    return frozenset(names)


def query_items(params, names: frozenset[str]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The query's parameters among `names`, sorted, with every value: a hashable key of what they ask for."""
    return tuple((key, tuple(params.getlist(key))) for key in sorted(params) if key in names)


def query_dict(items: tuple[tuple[str, tuple[str, ...]], ...]) -> QueryDict:
    """query_items back as a QueryDict."""
    params = QueryDict(mutable=True)
    for key, values in items:
        params.setlist(key, list(values))
    return params


def query_validated(serializer_class, params):
    """`serializer_class`'s validated data for the query's parameters among its fields (read-only), or its 400.
    The same query is validated once per process (functools.lru_cache; a refused one every time): the answer
    depends on those parameters alone, and DRF building the serializer's fields on every call cost 7 % of a
    customer's scores call (docs/status/issue-22-session8.md)."""
    return _query_validated(serializer_class, query_items(params, _field_names(serializer_class)))


@functools.cache
def _field_names(serializer_class) -> frozenset[str]:
    return frozenset(serializer_class().fields)


@functools.lru_cache(maxsize=512)
def _query_validated(serializer_class, items):
    query = serializer_class(data=query_dict(items))
    if not query.is_valid():
        # The error names the query parameter: a repeated one's bad value said `band.0` (the list's first item).
        name, detail = next(iter(query.errors.items()))
        while not isinstance(detail, str):  # {0: [...]}: a list's items; [...]: the messages (ErrorDetail, a str)
            detail = next(iter(detail.values())) if isinstance(detail, dict) else detail[0]
        raise exceptions.ValidationError({name: [detail]})
    return MappingProxyType(dict(query.validated_data))


def unknown_query_check(params, known: frozenset[str]) -> None:
    """Raise a 400 naming the first query parameter the endpoint does not know: a typo (`bnad=high`) must
    never be read as "no filter" and send a campaign to the whole list."""
    for key in params:
        if key not in known and key not in _ALWAYS_KNOWN:
            takes = ", ".join(sorted(known)) or "no query parameters"
            message = f"Unknown parameter “{key[:40]}”: this call takes {takes}."
            if key == "limit" and "page_size" in known:
                # `limit` means one thing in the API, "only the first N of the whole list" (the at-risk list's
                # top N); elsewhere it is refused, saying what sets a page's length.
                message = ("This list takes no “limit” (only the at-risk list does: its first N customers): "
                           f"page_size sets the items per page, and `next` leads to the rest. It takes {takes}.")
            raise exceptions.ValidationError({key: [exceptions.ErrorDetail(message, code="unknown_parameter")]})


class ShopApiMixin:
    """For API views acting within the caller's shop. `required_roles` maps methods to the weakest role;
    `query_parameters` the query parameters each method knows (any other is a 400 naming it)."""

    required_roles: dict[str, str] = {"GET": "marketer"}
    query_parameters: dict[str, frozenset[str]] = {}
    # Views whose bodies are big and checked item by item (batches) turn the generic check off.
    check_body_text = True
    # The serializer of each method's body, where there is one: only the text it keeps is checked.
    body_serializers: dict[str, type[serializers.Serializer]] = {}

    def initial(self, request, *args, **kwargs):
        for value in kwargs.values():
            if _bad_text(value):
                raise exceptions.NotFound("Not found.")
        query_check(request.query_params)
        method = "GET" if request.method in ("HEAD", "OPTIONS") else request.method
        unknown_query_check(request.query_params, self.query_parameters.get(method, frozenset()))
        super().initial(request, *args, **kwargs)
        if self.check_body_text and request.method in ("POST", "PUT", "PATCH"):
            if request.data is None:
                # JSON `null` is neither an object nor an array: no operation documents it as a body.
                raise exceptions.ValidationError({"body": [exceptions.ErrorDetail(
                    "The body may not be null: send a JSON object (or no body where every field is optional).",
                    code="invalid_type")]})
            body_serializer = self.body_serializers.get(request.method)
            reject_bad_text(declared_only(body_serializer(), request.data) if body_serializer else request.data)

    @property
    def shop(self):
        return request_shop(self.request)

    @property
    def role(self) -> str | None:
        return request_role(self.request)


class HealthApi(APIView):
    """`{"status": "ok"}` without authentication: for load balancers and compose healthchecks."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []
    public = True

    @extend_schema(
        operation_id="health",
        summary="Health check",
        auth=[],
        responses=inline_serializer("Health", {"status": serializers.CharField()}),
        examples=[OpenApiExample("ok", value={"status": "ok"})],
        tags=["health"],
    )
    def get(self, request):
        return Response({"status": "ok"})
