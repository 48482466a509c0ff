"""The one error format of the API: `{"status": 400, "code": "invalid", "message": "...", "field": null}`.

Every error a client can meet goes through here: DRF's own exceptions (validation, parse, 401, 403,
404, 405, 406, 415, 429), Django's Http404 and PermissionDenied, `ecomsight.errors.UserError` (400
with its code and field), and anything unexpected (500, logged, never a traceback in the body).
URLs under /api/ that match no route answer with the same format (`not_found`)."""

from __future__ import annotations

import logging
import re

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from ecomsight.errors import UserError

from .authentication import KEYWORD

logger = logging.getLogger("ecomsight.api")

# DRF's exception codes, renamed where a client benefits from a plainer word.
_CODES = {
    "not_authenticated": "not_authenticated",
    "authentication_failed": "authentication_failed",
    "permission_denied": "permission_denied",
    "not_found": "not_found",
    "method_not_allowed": "method_not_allowed",
    "not_acceptable": "not_acceptable",
    "unsupported_media_type": "unsupported_media_type",
    "throttled": "throttled",
    "parse_error": "malformed_json",
}


# Django's get_object_or_404 says "No ModelVersion matches the given query."; our own 404s say "No such model
# version.": one wording (a new user met both for a customer).
_DJANGO_404 = re.compile(r"No ([A-Z]\w*) matches the given query\.")


def _not_found_message(message: str) -> str:
    match = _DJANGO_404.fullmatch(message)
    if match is None:
        return message or "Not found."
    return f"No such {re.sub(r'(?<!^)(?=[A-Z])', ' ', match.group(1)).lower()}."


def _scheme_refused(request) -> str | None:
    """The scheme word of an Authorization header that is not this API's (`Token abc`), or None. DRF skips such a
    header (the session may still authenticate the request) and said only "credentials were not provided"."""
    header = (request.META.get("HTTP_AUTHORIZATION", "") if request is not None else "").split()
    if not header or header[0].lower() == KEYWORD.lower():
        return None
    return header[0][:20]


def error_body(*, status_code: int, code: str, message: str, field: str | None = None) -> dict:
    """The error document every API error uses."""
    return {"status": status_code, "code": code, "message": message, "field": field}


def _first_error(detail, path: tuple[str, ...] = ()) -> tuple[str | None, str, str]:
    """The first (field path, message, code) in DRF's nested validation detail ("items.3.customer_id")."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            sub = path if key in ("non_field_errors", "detail") else (*path, str(key))
            return _first_error(value, sub)
    if isinstance(detail, list):
        for index, value in enumerate(detail):
            if isinstance(value, dict | list) and value:
                # A list of per-item errors: empty dicts are items without errors.
                return _first_error(value, (*path, str(index)) if isinstance(value, dict) else path)
            if not isinstance(value, dict | list):
                return _first_error(value, path)
    code = getattr(detail, "code", None) or "invalid"
    return (".".join(path) or None), str(detail), str(code)


def exception_handler(exc, context) -> Response | None:
    """DRF's EXCEPTION_HANDLER: map any exception raised in an API view to the error format."""
    headers: dict[str, str] = {}
    if isinstance(exc, UserError):
        body = error_body(status_code=400, code=exc.code, message=exc.message, field=exc.field)
    elif isinstance(exc, Http404):
        body = error_body(status_code=404, code="not_found", message=_not_found_message(str(exc)))
    elif isinstance(exc, PermissionDenied):
        body = error_body(status_code=403, code="permission_denied",
                          message=str(exc) or "You do not have permission to do this.")
    elif isinstance(exc, RequestDataTooBig):
        body = error_body(status_code=413, code="too_large",
                          message="The request body is too large. Batches take up to 10,000 items.")
    elif isinstance(exc, SuspiciousOperation):
        body = error_body(status_code=400, code="bad_request", message="The request could not be read.")
    elif isinstance(exc, exceptions.ValidationError):
        field, message, code = _first_error(exc.detail)
        body = error_body(status_code=400, code=code, message=message, field=field)
    elif isinstance(exc, exceptions.NotAuthenticated) and (scheme := _scheme_refused(context.get("request"))):
        body = error_body(status_code=exc.status_code, code="not_authenticated",
                          message=f"The Authorization header uses the scheme “{scheme}”; this API takes a token as "
                                  "`Authorization: Bearer <token>`.")
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
    elif isinstance(exc, exceptions.APIException):
        detail = exc.detail
        if isinstance(detail, dict | list):
            field, message, code = _first_error(detail)
        else:
            field, message, code = None, str(detail), str(getattr(detail, "code", exc.default_code))
        body = error_body(status_code=exc.status_code, code=_CODES.get(code, code), message=message, field=field)
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
    else:
        # Unexpected: log the traceback for us, give the client the format and nothing internal.
        request = context.get("request")
        logger.exception("API error on %s", getattr(request, "path", "?"))
        body = error_body(status_code=500, code="server_error",
                          message="Something went wrong on our side. It has been logged; try again later.")
    set_rollback()
    return Response(body, status=body["status"], headers=headers)


@csrf_exempt
def not_found(request, *args, **kwargs) -> JsonResponse:
    """Any /api/ URL without a route (a plain view: no auth needed to learn that nothing is there).

    CSRF-exempt like every API view: a POST/PUT/DELETE to a path that matches no route (`/segments/x/`)
    must answer this JSON 404, not Django's HTML "CSRF cookie not set" 403."""
    return JsonResponse(error_body(status_code=404, code="not_found",
                                   message=f"There is no API endpoint at {request.path}."),
                        status=status.HTTP_404_NOT_FOUND)
