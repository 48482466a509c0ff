"""Every page needs a login. The API authenticates itself (tokens) and answers 401, never a redirect."""

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import render
from django.urls import reverse

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
