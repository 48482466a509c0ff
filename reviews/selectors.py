"""Reads of the reviews app: reviews as frames (for the analysis), lists with filters (page and API), and the
per product / category summaries (sentiment over time, most negative aspects with example quotes)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncMonth

from accounts.models import Shop
from behavior.models import Review
from catalog.selectors import category_find
from ecomsight.db import epoch_sql, read_frame
from ecomsight.errors import UserError

from .ml.aspects import ASPECTS
from .models import ReviewAnalysis

SENTIMENTS = ("positive", "neutral", "negative")
ASPECT_LABELS = {"delivery": "Delivery", "quality": "Quality", "price": "Price", "size_fit": "Size / fit",
                 "packaging": "Packaging", "customer_service": "Customer service"}


def reviews_frame(*, shop: Shop, unscored_after: int | None = None, limit: int | None = None) -> pd.DataFrame:
    """Every review of the shop: id, title, text, rating (float, NaN), language, created_at (UTC), in id order.

    `unscored_after`: only reviews without an analysis (`analyzed_at` empty) whose id is above it; `limit`: at most
    that many (the first ones)."""
    where, params = "shop_id = %s", [shop.pk]
    if unscored_after is not None:
        where += " AND analyzed_at IS NULL AND id > %s"
        params.append(unscored_after)
    return read_frame(
        f"SELECT id, title, text, rating, language, {epoch_sql('created_at')} FROM behavior_review "
        f"WHERE {where} ORDER BY id" + (f" LIMIT {int(limit)}" if limit else ""),
        params, columns=["id", "title", "text", "rating", "language", "created_at"], epoch_columns=["created_at"],
        dtypes={"id": "int64", "title": "str", "text": "str", "rating": "float64", "language": "str"})


def review_list(*, shop: Shop, product: str | None = None, sentiment: str | None = None,
                customer: str | None = None, aspect: str | None = None, category: str | None = None) -> QuerySet:
    """The shop's reviews, newest first, filtered by the shop's product / customer id, sentiment, aspect or
    category (its path or id, and its subcategories). Raises `UserError` on an unknown sentiment, aspect or
    category."""
    reviews = Review.objects.filter(shop=shop).select_related("customer", "product")
    if sentiment:
        if sentiment not in SENTIMENTS:
            raise UserError(f"Unknown sentiment '{sentiment}': choose one of {', '.join(SENTIMENTS)}.",
                            field="sentiment")
        reviews = reviews.filter(sentiment=sentiment)
    if aspect:
        if aspect not in ASPECTS:
            raise UserError(f"Unknown aspect '{aspect}': choose one of {', '.join(ASPECTS)}.", field="aspect")
        reviews = reviews.filter(aspects__contains=[aspect])
    if product:
        reviews = reviews.filter(product__external_id=product)
    if customer:
        reviews = reviews.filter(customer__external_id=customer)
    if category:  # a path or an id, as the at-risk list takes it; an unknown one is a UserError on `category`
        path = category_find(shop_id=shop.pk, value=category).path
        reviews = reviews.filter(Q(product__category__path=path) | Q(product__category__path__startswith=path + " > "))
    return reviews.order_by("-created_at", "-id")


@dataclass(frozen=True)
class AspectSummary:
    """One aspect of a set of reviews: how often it is mentioned, the share negative, example quotes."""

    aspect: str
    label: str
    mentions: int
    negative: int
    negative_share: float
    quotes: tuple[str, ...]


@dataclass(frozen=True)
class ReviewSummary:
    """Counts by sentiment, sentiment by month, and aspects from the most negative down."""

    total: int
    by_sentiment: dict[str, int]
    months: list[dict]
    aspects: list[AspectSummary]


# Reviews read per aspect to find its distinct quotes (quotes × this): one more query's rows, never a scan.
QUOTE_POOL = 10


def review_summary(*, reviews: QuerySet, quotes: int = 3) -> ReviewSummary:
    """Summarise a filtered review list (see `review_list`): a few grouped queries, whatever its size."""
    by_sentiment = {s: 0 for s in SENTIMENTS}
    for row in reviews.order_by().values("sentiment").annotate(n=Count("id")):
        if row["sentiment"] in by_sentiment:
            by_sentiment[row["sentiment"]] = row["n"]
    months = [
        {"month": row["month"].date().isoformat()[:7], "label": f"{row['month']:%b %Y}",
         "positive": row["positive"], "neutral": row["neutral"],
         "negative": row["negative"],
         "negative_share": round(row["negative"] / max(row["positive"] + row["neutral"] + row["negative"], 1), 3)}
        for row in reviews.exclude(created_at=None).order_by().annotate(month=TruncMonth("created_at"))
        .values("month").annotate(positive=Count("id", filter=Q(sentiment="positive")),
                                  neutral=Count("id", filter=Q(sentiment="neutral")),
                                  negative=Count("id", filter=Q(sentiment="negative"))).order_by("month")
    ]
    aspects = []
    for aspect in ASPECTS:
        mentioned = reviews.filter(aspects__contains=[aspect])
        negative = aspect_negative_q(aspect)
        counts = mentioned.order_by().aggregate(n=Count("id"), negative=Count("id", filter=negative))
        if not counts["n"]:
            continue
        # Distinct quotes: the same complaint word for word (a template, or a customer posting twice) said once.
        examples: list[str] = []
        for r in mentioned.filter(negative).order_by("positive_probability", "-created_at")[:quotes * QUOTE_POOL]:
            quote = _quote(r.title, r.text)
            if quote.casefold() not in {e.casefold() for e in examples}:
                examples.append(quote)
            if len(examples) == quotes:
                break
        aspects.append(AspectSummary(aspect=aspect, label=ASPECT_LABELS[aspect], mentions=counts["n"],
                                     negative=counts["negative"],
                                     negative_share=round(counts["negative"] / counts["n"], 3),
                                     quotes=tuple(examples)))
    aspects.sort(key=lambda a: (-a.negative_share, -a.mentions))
    return ReviewSummary(total=sum(by_sentiment.values()) + reviews.filter(sentiment="").count(),
                         by_sentiment=by_sentiment, months=months, aspects=aspects)


def aspect_negative_q(aspect: str) -> Q:
    """Reviews negative about `aspect`: its own sentiment where the review judged it apart (`aspect_sentiments`,
    the clauses that mention it), else the review's."""
    own = {f"aspect_sentiments__{aspect}": "negative"}
    return Q(**own) | (~Q(aspect_sentiments__has_key=aspect) & Q(sentiment="negative"))


def _quote(title: str, text: str, limit: int = 240) -> str:
    body = (text or title or "").strip().replace("\n", " ")
    return body if len(body) <= limit else body[:limit - 1] + "…"


def review_analysis_latest(*, shop: Shop) -> ReviewAnalysis | None:
    """The shop's last review analysis, or None."""
    return ReviewAnalysis.objects.filter(shop=shop).order_by("-created_at", "-id").first()


def negative_reviews_frame(*, shop: Shop, as_of, days: int = 90) -> pd.DataFrame:
    """Each customer's latest negative review in (as_of - days, as_of]: customer_id, created_at, rating
    (NaN when unrated), aspects (a list). One query for the whole shop (the churn features read it)."""
    frame = read_frame(
        f"SELECT customer_id, {epoch_sql('created_at')}, rating, aspects FROM behavior_review "
        "WHERE shop_id = %s AND customer_id IS NOT NULL AND sentiment = 'negative' "
        "AND created_at <= %s AND created_at > %s",
        [shop.pk, as_of, as_of - pd.Timedelta(days=days)],
        columns=["customer_id", "created_at", "rating", "aspects"], epoch_columns=["created_at"],
        dtypes={"customer_id": "int64", "rating": "float64"})
    frame["aspects"] = frame["aspects"].map(_aspect_list)
    return (frame.sort_values(["customer_id", "created_at"]).drop_duplicates("customer_id", keep="last")
            .reset_index(drop=True))


def _aspect_list(value) -> list:
    if isinstance(value, list):
        return value
    if isinstance(value, str) and value:
        return list(json.loads(value))
    return []
