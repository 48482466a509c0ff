"""Cursor pagination for every list: opaque `cursor` links, stable under concurrent inserts.

`ApiCursorPagination` (DRF's cursor on an indexed ordering) serves model lists; the view may choose
the ordering per request with `get_cursor_ordering()`. `SnapshotCursorPagination` serves lists whose
order is a computed expression (the at-risk list, segment members): its cursor names the scoring
run and a position in it, so a new run landing meanwhile does not move the pages. A customer re-scored in
place within the run (they ordered: predictions.services.rescoring) may move, and show twice or not at all
while a client pages; the README says so."""

from __future__ import annotations

import base64
import binascii
import json
from collections import OrderedDict

from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions
from rest_framework.pagination import BasePagination, CursorPagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


def page_size_from(request) -> int:
    """`page_size` from the query (1 to 500), DEFAULT_PAGE_SIZE without one; 400 for anything else."""
    raw = request.query_params.get("page_size")
    if raw in (None, ""):
        return DEFAULT_PAGE_SIZE
    try:
        size = int(raw)
    except ValueError:
        raise exceptions.ValidationError({"page_size": [f"“{raw[:40]}” is not a whole number."]}) from None
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise exceptions.ValidationError({"page_size": [f"page_size must be between 1 and {MAX_PAGE_SIZE}."]})
    return size


# Cursors are base64 text (standard or URL-safe alphabet); empty means the first page. Only a cursor
# taken from a `next` or `previous` link is valid: anything else is a 400 `invalid_cursor`.
CURSOR_SCHEMA = {"type": "string", "pattern": r"^[A-Za-z0-9+/_=-]*$", "maxLength": 1000}
CURSOR_DESCRIPTION = ("The pagination cursor from a `next` or `previous` link (opaque; any other value is a 400 "
                      "`invalid_cursor`).")

# For views that page by hand (extend_schema(parameters=[*CURSOR_PARAMETERS])).
CURSOR_PARAMETERS = [
    OpenApiParameter("cursor", CURSOR_SCHEMA, OpenApiParameter.QUERY, description=CURSOR_DESCRIPTION),
    OpenApiParameter("page_size", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE,
                                   "default": DEFAULT_PAGE_SIZE}, OpenApiParameter.QUERY,
                     description="Items per page."),
]


def _invalid_cursor() -> exceptions.ValidationError:
    return exceptions.ValidationError({"cursor": [exceptions.ErrorDetail(
        "Invalid cursor: use the `next` or `previous` link of an earlier page.", code="invalid_cursor")]})


class ApiCursorPagination(CursorPagination):
    page_size = DEFAULT_PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE
    ordering = "-id"

    def get_page_size(self, request):
        return page_size_from(request)

    def get_ordering(self, request, queryset, view):
        chooser = getattr(view, "get_cursor_ordering", None)
        ordering = chooser() if chooser else getattr(view, "cursor_ordering", self.ordering)
        return (ordering,) if isinstance(ordering, str) else tuple(ordering)

    def paginate_queryset(self, queryset, request, view=None):
        self._model = getattr(queryset, "model", None)
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
        except exceptions.NotFound:
            raise _invalid_cursor() from None
        if cursor is not None and cursor.position is not None and not self._position_fits(cursor.position):
            raise _invalid_cursor()
        return cursor

    def _position_fits(self, position: str) -> bool:
        """Whether the ordering's column can hold a cursor's position. The position is compared with the column
        in SQL: text where a number or a date belongs (a cursor of another list, or a made-up one) would fail
        there as a server error, so it is refused here as an invalid cursor."""
        if "\x00" in position:
            return False
        field = self._ordering_field()
        if field is None:
            return True
        try:
            field.run_validators(field.to_python(position))
        except (DjangoValidationError, ValueError, TypeError, OverflowError):
            return False
        return True

    def _ordering_field(self):
        """The model field the ordering's first key names (through relations), or None (an annotation)."""
        model, field = self._model, None
        for part in self.ordering[0].lstrip("-").split("__"):
            if model is None:
                return None
            try:
                field = model._meta.pk if part == "pk" else model._meta.get_field(part)
            except FieldDoesNotExist:
                return None
            model = field.related_model
        return field

    def get_schema_operation_parameters(self, view):
        params = super().get_schema_operation_parameters(view)
        for param in params:
            if param["name"] == "cursor":
                param["schema"], param["description"] = dict(CURSOR_SCHEMA), CURSOR_DESCRIPTION
            if param["name"] == "page_size":
                param["schema"] = {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE,
                                   "default": DEFAULT_PAGE_SIZE}
        return params


def paginate_or_404(paginator: CursorPagination, queryset, request, view, *, exists, message: str) -> list:
    """A page of `queryset` (a list belonging to one thing named in the URL, a customer); Http404 with `message`
    when `exists()` says the thing is unknown, whatever the cursor says. `exists` is asked only when the page
    is empty or the cursor was refused: the usual call costs the page's query alone."""
    try:
        page = paginator.paginate_queryset(queryset, request, view=view)
    except exceptions.ValidationError:
        if not exists():
            raise Http404(message) from None
        raise
    if not page and not exists():
        raise Http404(message)
    return page


class SnapshotCursorPagination(BasePagination):
    """Pages of a list ordered by an expression, within one scoring run.

    The view calls `start(request)` → (run_id or None, offset), builds the queryset for that run,
    then `paginate(queryset, run_id)`; `extra` goes into the response beside the links."""

    cursor_query_param = "cursor"

    def start(self, request) -> tuple[int | None, int]:
        self.request = request
        self.page_size = page_size_from(request)
        raw = request.query_params.get(self.cursor_query_param)
        if not raw:
            return None, 0
        try:
            data = json.loads(base64.urlsafe_b64decode(raw.encode("ascii")).decode("ascii"))
            run_id, offset = int(data["r"]), int(data["o"])
        except (ValueError, KeyError, TypeError, UnicodeError, binascii.Error):
            raise _invalid_cursor() from None
        if run_id < 1 or run_id > 2**62 or not 0 <= offset <= 10**9:
            raise _invalid_cursor()
        return run_id, offset

    def paginate(self, queryset, *, run_id: int | None, offset: int) -> list:
        """The page's rows (a list); remembers whether there are more for the links."""
        return self.paginate_with(lambda start, stop: list(queryset[start:stop]), run_id=run_id, offset=offset)

    def paginate_with(self, fetch, *, run_id: int | None, offset: int) -> list:
        """`paginate` for rows read by `fetch(start, stop)` (a list of rows start to stop - 1 of the list)."""
        if run_id is None:
            return self.paginate_rows([], run_id=None, offset=offset)
        return self.paginate_rows(fetch(offset, offset + self.page_size + 1), run_id=run_id, offset=offset)

    def paginate_rows(self, rows: list, *, run_id: int | None, offset: int) -> list:
        """The page's rows of `rows`, rows offset to offset + page_size of the list in the run `run_id` (one more
        when there are more); remembers whether there are more for the links."""
        self.run_id, self.offset, self.length = run_id, offset, None
        if run_id is None:
            self.has_next, self.rows = False, []
            return []
        self.has_next = len(rows) > self.page_size
        self.rows = rows[:self.page_size]
        return self.rows

    def past_the_end(self) -> bool:
        """Whether this page is empty for having started past the list's end (a cursor kept while the list shrank,
        or written by hand): then the view tells `ends_at` how long the list is."""
        return self.run_id is not None and self.offset > 0 and not self.rows

    def ends_at(self, length: int) -> None:
        """The list holds `length` rows: `previous` leads to its last page, as DRF's CursorPagination leads back
        from a position past the end, rather than to the page before this empty one, empty too when this one
        starts more than a page past the end (an integrator stepped back page by empty page)."""
        self.length = length

    def _link(self, offset: int) -> str:
        cursor = base64.urlsafe_b64encode(json.dumps({"r": self.run_id, "o": offset}).encode()).decode()
        return replace_query_param(self.request.build_absolute_uri(), self.cursor_query_param, cursor)

    def get_next_link(self) -> str | None:
        return self._link(self.offset + self.page_size) if self.has_next else None

    def get_previous_link(self) -> str | None:
        if self.run_id is None or self.offset == 0:
            return None
        end = self.offset if self.length is None else min(self.offset, self.length)
        previous = max(0, end - self.page_size)
        if previous == 0:
            # The first page has no cursor, but it must stay on the same run: keep one with offset 0.
            return self._link(0)
        return self._link(previous)

    def get_paginated_response(self, data, extra: dict | None = None) -> Response:
        return Response(self.paginated_data(data, extra))

    def paginated_data(self, data, extra: dict | None = None) -> OrderedDict:
        return OrderedDict([("next", self.get_next_link()), ("previous", self.get_previous_link()),
                            *(extra or {}).items(), ("results", data)])

    def get_paginated_response_schema(self, schema):
        return {"type": "object", "required": ["next", "previous", "results"], "properties": {
            "next": {"type": "string", "nullable": True, "format": "uri"},
            "previous": {"type": "string", "nullable": True, "format": "uri"},
            "results": schema,
        }}

    def get_schema_operation_parameters(self, view):
        return [
            {"name": "cursor", "required": False, "in": "query", "schema": dict(CURSOR_SCHEMA),
             "description": CURSOR_DESCRIPTION},
            {"name": "page_size", "required": False, "in": "query",
             "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": DEFAULT_PAGE_SIZE},
             "description": "Items per page."},
        ]


__all__ = ["CURSOR_PARAMETERS", "ApiCursorPagination", "SnapshotCursorPagination", "page_size_from",
           "paginate_or_404"]
