"""The customer page: one customer's current scores, score history, timeline of orders and events, and
recommendations (404 for a customer of another shop)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q
from django.http import Http404

from accounts.models import Shop
from behavior.models import Customer, Event, Order
from predictions.models import CustomerScore, ScoringRun, Task

from ..extensions import customer_flag_reasons, customer_recommendations
from ..filters import text_encodable
from .at_risk import scoring_run_current
from .freshness import with_ordered_since_scoring
from .interests import InterestProfile, customer_interests

HISTORY_RUNS = 24
TIMELINE_ITEMS = 50


@dataclass(frozen=True)
class TimelineItem:
    at: datetime
    kind: str  # "order" or an event type
    title: str
    detail: str
    amount: float | None = None


@dataclass(frozen=True)
class HistoryPoint:
    as_of: datetime
    probability: float
    scored_at: datetime | None = None  # tells apart several runs on the same data day


def _order_counts(customer: Customer) -> dict[str, int]:
    """`orders_count` (not cancelled) and `cancelled_count` of a customer, in one query."""
    cancelled = Q(status=Order.Status.CANCELLED)
    counts = customer.orders.aggregate(orders_count=Count("pk", filter=~cancelled),
                                       cancelled_count=Count("pk", filter=cancelled))
    return {name: int(value or 0) for name, value in counts.items()}


@dataclass(frozen=True)
class CustomerDetail:
    customer: Customer
    run: ScoringRun | None
    churn: CustomerScore | None
    purchase: CustomerScore | None
    last_order_at: datetime | None
    orders_count: int  # orders that were not cancelled (what the scores and reasons count), and apart:
    cancelled_count: int
    history: list[HistoryPoint]
    timeline: list[TimelineItem]
    recommendations: list  # provided by the recommendations app (predictions.extensions)
    similar: list
    # a non-cancelled order placed after the history the churn score saw: the score is out of date until
    # the worker re-scores the customer (a minute or two)
    ordered_since_scoring: bool = False
    # why they are flagged (refund abuse, bot-like sessions: predictions.extensions), one sentence per flag;
    # flagged customers are left out of campaign files unless an export includes them
    flags: tuple[str, ...] = ()
    # their strongest category and brand interests in the current run (predictions.selectors.interests)
    interests: InterestProfile = InterestProfile()


def customer_detail(*, shop: Shop, external_id: str) -> CustomerDetail:
    """Everything the customer page shows; 404 for an unknown customer or one of another shop, and for an id
    no customer can have (NUL or a lone surrogate, which PostgreSQL cannot even compare)."""
    if "\x00" in external_id or not text_encodable(external_id):
        raise Http404("No such customer")
    customer = Customer.objects.filter(shop=shop, external_id=external_id).first()
    if customer is None:
        raise Http404("No such customer")
    run = scoring_run_current(shop=shop)
    scores = {s.task: s for s in with_ordered_since_scoring(
        CustomerScore.objects.filter(scoring_run=run, customer=customer), run=run)} if run else {}

    history_qs = (
        CustomerScore.objects.filter(customer=customer, task=Task.CHURN,
                                     scoring_run__status=ScoringRun.Status.SUCCEEDED)
        .order_by("-scored_at")
        .values_list("scoring_run__as_of", "probability", "scored_at")[:HISTORY_RUNS]
    )
    history = [HistoryPoint(as_of=a, probability=p, scored_at=t) for a, p, t in reversed(list(history_qs))]

    orders = list(
        customer.orders.annotate(lines_count=Count("lines")).order_by("-placed_at")[:TIMELINE_ITEMS]
    )
    events = list(
        Event.objects.filter(customer=customer).select_related("product").order_by("-occurred_at")[:TIMELINE_ITEMS]
    )
    timeline = [_order_item(o, shop) for o in orders] + [_event_item(e) for e in events]
    timeline.sort(key=lambda item: item.at, reverse=True)

    last_order = next((o for o in orders if o.status != Order.Status.CANCELLED), None)
    churn = scores.get(Task.CHURN)
    recommended = customer_recommendations(shop_id=shop.pk, customer_id=customer.pk,
                                           last_order_id=last_order.pk if last_order is not None else None)
    return CustomerDetail(
        customer=customer, run=run, churn=churn, purchase=scores.get(Task.PURCHASE),
        last_order_at=last_order.placed_at if last_order is not None else None,
        **_order_counts(customer), history=history, timeline=timeline[:TIMELINE_ITEMS],
        recommendations=recommended.recommendations, similar=recommended.similar,
        ordered_since_scoring=churn.ordered_since_scoring if churn is not None else False,
        flags=tuple(customer_flag_reasons(shop_id=shop.pk, customer_id=customer.pk)),
        interests=customer_interests(run=run, customer_id=customer.pk),
    )


def _order_item(order: Order, shop: Shop) -> TimelineItem:
    items = order.item_count or order.lines_count
    detail = f"{items} item{'s' if items != 1 else ''}" if items else ""
    if order.status != Order.Status.PLACED:
        detail = f"{detail} · {order.status}" if detail else order.status
    return TimelineItem(at=order.placed_at, kind="order", title=f"Order {order.external_id}", detail=detail,
                        amount=float(order.total) if order.total is not None else None)


_EVENT_WORDS = {
    "view": "Viewed", "add_to_cart": "Added to cart", "remove_from_cart": "Removed from cart",
    "wishlist": "Wishlisted", "search": "Searched", "review": "Reviewed", "login": "Logged in",
}


def _event_item(event: Event) -> TimelineItem:
    verb = _EVENT_WORDS.get(event.type, event.type.replace("_", " ").capitalize())
    detail = str(event.product) if event.product_id else ""
    if event.type == "search" and isinstance(event.properties, dict):
        detail = str(event.properties.get("query") or event.properties.get("q") or detail)
    return TimelineItem(at=event.occurred_at, kind=event.type, title=verb, detail=detail)
