"""Project-level pages. The dashboard is a placeholder until the predictions app provides it."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.selectors import shop_for_request


def home(request: HttpRequest) -> HttpResponse:
    """The dashboard of the current shop (a user without any shop gets the "ask an admin" page)."""
    shop = shop_for_request(request)
    return render(request, "home.html", {"shop": shop})
