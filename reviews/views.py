"""The Reviews page: what the shop's reviews say, by product or category, with the model's quality in words.

A thin view: parse the filter, call the selectors, render."""

from __future__ import annotations

from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.permissions import role_required
from accounts.selectors import shop_for_request, user_has_role
from ecomsight.errors import UserError
from ecomsight.query import known_parameters

from .ml.aspects import ASPECTS
from .selectors import ASPECT_LABELS, SENTIMENTS, review_analysis_latest, review_list, review_summary

PAGE_SIZE = 50


@role_required("marketer")
@require_GET
@known_parameters("product", "category", "sentiment", "aspect", "page")
def review_page(request: HttpRequest) -> HttpResponse:
    """Reviews filtered by product, category, sentiment and aspect: sentiment by month, the most negative
    aspects with quotes, the themes of negative reviews, and the reviews themselves."""
    shop = shop_for_request(request)
    filters = {key: request.GET.get(key, "").strip() for key in ("product", "category", "sentiment", "aspect")}
    error = None
    if any("\x00" in value for value in filters.values()):  # nothing can hold one: a notice, never a 500
        filters = {key: "" if "\x00" in value else value for key, value in filters.items()}
        error = "A filter held characters that are not allowed, so it was ignored."
    try:
        reviews = review_list(shop=shop, **{k: v for k, v in filters.items() if v})
    except UserError as exc:
        error = exc.message
        reviews = review_list(shop=shop)
    summary = review_summary(reviews=reviews)
    page = Paginator(reviews, PAGE_SIZE).get_page(request.GET.get("page"))
    query = urlencode({k: v for k, v in filters.items() if v})
    return render(request, "reviews/reviews.html", {
        "shop": shop, "filters": filters, "error": error, "summary": summary, "page": page, "query": query,
        "analysis": review_analysis_latest(shop=shop), "sentiments": SENTIMENTS,
        "aspects": [(a, ASPECT_LABELS[a]) for a in ASPECTS], "aspect_labels": ASPECT_LABELS,
        # ROC AUC, log loss and Brier: for analysts; the statement says it in words for everyone.
        "show_metrics": user_has_role(user=request.user, shop=shop, roles=["analyst"]),
    }, status=400 if error else 200)  # a filter it could not apply: said on the page, as the other lists do
