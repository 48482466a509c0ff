"""Login, logout and the shop switcher."""

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template import loader
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from .forms import LoginForm, ShopSwitchForm
from .selectors import shop_for_user_get


class LoginView(auth_views.LoginView):
    """Django's login view; a throttled attempt answers 429 with Retry-After and the form's message."""

    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if getattr(form, "block", None) is not None:
            response.status_code = 429
            response["Retry-After"] = str(form.block.retry_after)
        return response


class LogoutView(auth_views.LogoutView):
    """Logout by POST only (Django 5 refuses GET), so a link or an image tag cannot log anyone out."""


@require_POST
def shop_switch(request: HttpRequest) -> HttpResponse:
    """Remember the shop chosen in the top bar, if the user has been granted it; else 404."""
    form = ShopSwitchForm(request.POST)
    if not form.is_valid():
        raise Http404("No such shop.")
    # 404 rather than 403 for a shop the user is not granted: do not reveal which shops exist.
    shop = shop_for_user_get(user=request.user, slug=form.cleaned_data["shop"])
    if shop is None:
        raise Http404("No such shop.")
    request.session["shop"] = shop.slug
    messages.success(request, f"Now working on {shop.name}.")
    target = form.cleaned_data["next"]
    safe = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return redirect(target if safe else "/")


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: the API's error format under /api/, else the 500 page; never a traceback or any detail."""
    if request.path_info.startswith("/api/"):
        return JsonResponse({"status": 500, "code": "server_error", "field": None,
                             "message": "Something went wrong on our side. It has been logged; try again later."},
                            status=500)
    # No context processors: the layout must render even when the database is what failed.
    return HttpResponse(loader.get_template("500.html").render(), status=500)
