"""Every page needs a login. The API authenticates itself (tokens) and answers 401, never a redirect."""

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers, patch_cache_control

from .selectors import NoShopGranted

OPEN_PREFIXES = ("/accounts/login/", "/static/", "/api/")


class LoginRequiredMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info
        if not request.user.is_authenticated and not path.startswith(OPEN_PREFIXES):
            return redirect_to_login(request.get_full_path(), reverse(settings.LOGIN_URL))
        return self.get_response(request)

    def process_exception(self, request, exception):
        """A user without any shop gets a page saying whom to ask, from any view that needs a shop."""
        if isinstance(exception, NoShopGranted):
            return render(request, "accounts/no_shop.html", status=403)
        return None


class NoStoreForUsersMiddleware:
    """Pages served to a logged-in user are never stored by a browser or a proxy: Back after logout must not
    show a segment's customers again. (`Cache-Control: no-store`, with Django's never-cache headers.)
    API responses get the same unless they set their own Cache-Control (they carry emails to browser sessions
    too); static files are not touched."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        path = request.path_info
        if path.startswith("/static/"):
            return response
        if path.startswith("/api/"):
            if not response.has_header("Cache-Control"):
                # The directives alone: no Expires (a clock value would make equal answers differ in bytes).
                patch_cache_control(response, no_cache=True, no_store=True, must_revalidate=True, private=True)
            return response
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            add_never_cache_headers(response)
        return response


class NulRefusedMiddleware:
    """A NUL character can never name anything (PostgreSQL refuses it in text): a page whose path holds one is
    a 404, a posted form value holding one a 400 — before any view passes it to a query and answers 500.
    Query strings are the pages' filters, which refuse such values with their usual notice (predictions.filters);
    the API checks all of it itself, with its JSON errors (ecomsight.api.views)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info
        if path.startswith("/api/"):
            return self.get_response(request)
        if "\x00" in path:
            return HttpResponse("Not found.", status=404, content_type="text/plain; charset=utf-8")
        # Form posts (not the upload pages, whose files this would parse here).
        if request.method == "POST" and not path.startswith(tuple(settings.UPLOAD_PATHS)):
            for key, values in request.POST.lists():
                if "\x00" in key or any("\x00" in value for value in values):
                    return HttpResponse("A value holds a NUL character, which nothing here can contain.",
                                        status=400, content_type="text/plain; charset=utf-8")
        return self.get_response(request)


# Multipart framing around an uploaded file (boundaries, the other fields) on top of the file's own size.
UPLOAD_OVERHEAD_BYTES = 64 * 1024


def body_limit(path: str) -> int:
    """The largest request body accepted at `path`: the import upload limit on the upload pages, the API's
    batch limit under /api/, and a small one for every other form (they hold a few fields)."""
    if path.startswith(tuple(getattr(settings, "UPLOAD_PATHS", ("/imports/",)))):
        return int(getattr(settings, "IMPORT_UPLOAD_MAX_BYTES", 200 * 1024 ** 2)) + UPLOAD_OVERHEAD_BYTES
    if path.startswith("/api/"):
        return int(getattr(settings, "API_BODY_MAX_BYTES", 100 * 1024 ** 2))
    return int(getattr(settings, "FORM_BODY_MAX_BYTES", 1024 ** 2))


class RequestBodyLimitMiddleware:
    """Answer 413 to a request whose declared body is too large, before anything reads it.

    Must come before CsrfViewMiddleware, which reads request.POST (and so the whole multipart body, spooled
    to disk) to find the CSRF token: a 2 GB upload is refused from its Content-Length alone."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        limit = body_limit(request.path_info)
        if length < 0 or length > limit:
            return _too_large(request, limit=limit, length=length)
        return self.get_response(request)


def _too_large(request: HttpRequest, *, limit: int, length: int) -> HttpResponse:
    megabytes = f"{limit / 1024 ** 2:.0f} MB" if limit >= 1024 ** 2 else f"{limit // 1024} KB"
    message = (f"The request is too large: at most {megabytes} are accepted here."
               if length >= 0 else "The request's Content-Length header is not a number.")
    status = 413 if length >= 0 else 400
    if request.path_info.startswith("/api/"):
        return JsonResponse({"status": status, "code": "too_large" if status == 413 else "invalid",
                             "message": message, "field": None}, status=status)
    response = render(request, "accounts/too_large.html", {"message": message}, status=status)
    response["Connection"] = "close"  # do not read (or wait for) the rest of the body
    return response
