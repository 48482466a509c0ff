"""The usual call of the busiest reads, answered without DRF's dispatch.

A shop's site and campaign tools call `customers/{id}/recommendations` and `customers/{id}/scores` for every
visitor and every send, and dashboards poll `at-risk`. For such a call DRF builds a Request, negotiates the
content type, instantiates and runs permission and throttle classes, and renders through a TemplateResponse.
Without them, the CPU of a call in process went from 0.62-0.89 to 0.52-0.56 ms (recommendations), from
0.71-0.98 to 0.56-0.63 ms (scores) and from 0.59 to 0.45 ms (a kept at-risk page); what is left is Django's
middleware, the token check, the SQL (or the kept page) and the JSON.

`hot_get(View, answer)` routes a URL to a function that serves the usual call itself:
- a GET with `Authorization: Bearer <token>`, no query string (at-risk: any query ShopApiMixin accepts), an
  Accept header DRF answers with plain JSON (no header, `*/*` or `application/json`) and path values
  without NUL or lone surrogates;
- the token is checked and counted exactly as BearerTokenAuthentication does (it is that function), the
  count must be within the token's limit, and the token's role must be View's role for GET;
- `answer(shop=<the token's shop>, **path values)` gives the body, rendered by the API's JSONRenderer,
  with the headers DRF adds (Allow); an Http404 or ValidationError it raises (an unknown customer, a filter
  the list does not take) becomes the error body the API's exception handler makes of it, as in DRF.

Anything else goes to View as before: another method, a query string (but at-risk's), the session, any
other error (an invalid token, a throttled call, a role refused, the database down), and whatever `answer`
leaves to the view by returning None (a history longer than a page). The token check made here goes along
(not counted twice, and its error is the one DRF answers with), so every error keeps the one error format.
API_HOT_PATHS=false sends every call to DRF. tests/api/test_hot_paths.py checks both give the same status,
headers and bytes."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from django.conf import settings
from django.http import Http404, HttpResponse
from rest_framework import exceptions
from rest_framework.settings import api_settings

from .authentication import bearer_token_check
from .errors import exception_handler
from .permissions import personal_data_for, role_at_least
from .renderers import JSONRenderer
from .throttling import TokenRateThrottle
from .views import _bad_text, query_check

logger = logging.getLogger(__name__)

# Accept headers for which DRF's negotiation picks JSONRenderer with its plain media type (or none at all; an
# empty one is a 406 there).
_PLAIN_JSON_ACCEPTS = frozenset({"*/*", "application/json"})


def _bearer_plain(request, kwargs: dict, *, query: bool) -> str | None:
    """The token of a call the hot path may serve; None for any other call."""
    meta = request.META
    if request.method != "GET" or (meta.get("QUERY_STRING") and not query):
        return None
    accept = meta.get("HTTP_ACCEPT")
    if accept is not None and accept not in _PLAIN_JSON_ACCEPTS:
        return None
    header = meta.get("HTTP_AUTHORIZATION")
    if not header or not header.isascii():
        return None
    parts = header.encode("ascii").split()  # as DRF's get_authorization_header: bytes, ASCII whitespace
    if len(parts) != 2 or parts[0].lower() != b"bearer":
        return None
    if any(_bad_text(value) for value in kwargs.values()):
        return None
    return parts[1].decode("ascii")


class _RequestView:
    """What the answers read of DRF's Request, from the Django request: the query and the absolute URI."""

    __slots__ = ("build_absolute_uri", "query_params")

    def __init__(self, request):
        self.query_params = request.GET
        self.build_absolute_uri = request.build_absolute_uri


def hot_get(view_class, answer: Callable[..., dict | None], *, query: bool = False):
    """A URL view serving the usual GET of `view_class` with `answer` (see the module's docstring) and every
    other call with `view_class` itself. Carries the DRF view's attributes (`cls`, `initkwargs`, csrf_exempt),
    so the OpenAPI schema describes `view_class` as before.

    With `query`, calls with a query string are served too, and `answer` also gets `request` (a _RequestView)
    and `personal` (whether the caller may see email and name). A query ShopApiMixin refuses (a blank value,
    NUL, too many fields) or with DRF's `format` parameter goes to DRF before the token is checked, as there;
    a ValidationError `answer` raises becomes the error body the API's exception handler makes of it."""
    drf_view = view_class.as_view()
    role = view_class.required_roles.get("GET") or view_class.required_roles.get("*", "admin")
    # What DRF's finalize_response sets: Allow (the view's methods, HEAD with GET as Django's View.setup adds
    # it); Vary: Accept only with more than one renderer, which the API does not have.
    allow = ", ".join(method.upper() for method in view_class.http_method_names
                      if hasattr(view_class, method) or (method == "head" and hasattr(view_class, "get")))

    def respond(request, token, data: dict, status: int = 200) -> HttpResponse:
        request.user = token.user  # as DRF's Request does, for what runs after the view
        response = HttpResponse(JSONRenderer().render(data), status=status, content_type="application/json")
        response["Allow"] = allow
        return response

    @functools.wraps(drf_view)
    def view(request, **kwargs):
        plain = _bearer_plain(request, kwargs, query=query) if settings.API_HOT_PATHS else None
        if plain is not None and query:
            try:
                query_check(request.GET)  # TooManyFieldsSent too: DRF answers it in the error format
                if api_settings.URL_FORMAT_OVERRIDE in request.GET:
                    plain = None  # `format=` picks the renderer in DRF's negotiation (a 404 for an unknown one)
            except Exception:  # noqa: BLE001 — DRF raises it again and answers
                plain = None
        if plain is not None:
            try:
                token = bearer_token_check(request, plain)
            except Exception:  # noqa: BLE001 — DRF answers with the failure already found
                token = None
            if token is not None and TokenRateThrottle().counted_within_limit(token) and \
                    role_at_least(token.role, role):
                extra = {"request": _RequestView(request), "personal": personal_data_for(token, token.user)} \
                    if query else {}
                try:
                    data = answer(shop=token.shop, **extra, **kwargs)
                except (Http404, exceptions.ValidationError) as exc:  # the error DRF's handler makes of it
                    failure = exception_handler(exc, {"request": request})
                    return respond(request, token, failure.data, failure.status_code)
                except Exception:  # noqa: BLE001 — DRF runs the view again and answers in the error format
                    logger.warning("hot path of %s failed; DRF answers", view_class.__name__, exc_info=True)
                    data = None
                if data is not None:
                    return respond(request, token, data)
        return drf_view(request, **kwargs)

    return view
