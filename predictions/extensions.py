"""What apps above predictions add to its pages and files.

Dependencies run one way (recommendations → predictions → behavior → catalog → accounts: CONVENTIONS), so
predictions cannot import the recommendations app. It names here what its customer page and its segment
exports need, and the recommendations app provides it in its AppConfig.ready(). With nothing provided
(an app left out of INSTALLED_APPS), the page and the exports show no recommendations."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class CustomerRecommendations:
    """Beside a customer's scores: their recommendations, best first (each with `.product`), and products
    similar to what their last order bought (each with `.product` and `.similar`)."""

    recommendations: list = field(default_factory=list)
    similar: list = field(default_factory=list)


# (shop_id, customer_id, last_order_id or None) -> CustomerRecommendations
CustomerRecommendationsReader = Callable[[int, int, "int | None"], CustomerRecommendations]
# shop_id -> a reader, bound to the recommendations current when the export starts, of customer ids ->
# {customer id: their top 3 recommended products, each {"product_id", "title", "url", "image_url"}}
ExportRecommendationsReader = Callable[[int], Callable[[Sequence[int]], dict[int, list[dict]]]]

_customer_reader: CustomerRecommendationsReader | None = None
_export_reader: ExportRecommendationsReader | None = None


def recommendations_provide(*, customer: CustomerRecommendationsReader, export: ExportRecommendationsReader) -> None:
    global _customer_reader, _export_reader
    _customer_reader, _export_reader = customer, export


def customer_recommendations(*, shop_id: int, customer_id: int, last_order_id: int | None) -> CustomerRecommendations:
    if _customer_reader is None:
        return CustomerRecommendations()
    return _customer_reader(shop_id, customer_id, last_order_id)


def export_recommendations(*, shop_id: int) -> Callable[[Sequence[int]], dict[int, list[dict]]]:
    if _export_reader is None:
        return lambda customer_ids: {}
    return _export_reader(shop_id)


# shop_id -> a function of customer ids -> {customer id: the offer_id each is given} (the offers app draws and
# logs the offers when the export runs; a shop without offers gets an empty column).
ExportOffersReader = Callable[[int], Callable[[Sequence[int]], dict[int, str]]]
_export_offers: ExportOffersReader | None = None


def offers_provide(*, export: ExportOffersReader) -> None:
    global _export_offers
    _export_offers = export


def export_offers(*, shop_id: int) -> Callable[[Sequence[int]], dict[int, str]]:
    if _export_offers is None:
        return lambda customer_ids: {}
    return _export_offers(shop_id)


# shop_id -> ids of customers left out of segment exports (campaign files) by default: customers an app above
# predictions flagged (the forecasts app: refund abuse, bot-like sessions). Nothing provided: nobody is left out.
# An export keeps them when asked (export_create's include_flagged).
ExcludedCustomersReader = Callable[[int], set[int]]
# (shop_id, customer_id) -> why that customer is flagged, one sentence per flag ([] when not flagged): the
# customer page shows it.
FlagReasonsReader = Callable[[int, int], list[str]]
_excluded_reader: ExcludedCustomersReader | None = None
_reasons_reader: FlagReasonsReader | None = None


def excluded_customers_provide(*, reader: ExcludedCustomersReader, reasons: FlagReasonsReader | None = None) -> None:
    global _excluded_reader, _reasons_reader
    _excluded_reader, _reasons_reader = reader, reasons


def excluded_customers(*, shop_id: int) -> set[int]:
    return set() if _excluded_reader is None else _excluded_reader(shop_id)


def customer_flag_reasons(*, shop_id: int, customer_id: int) -> list[str]:
    return [] if _reasons_reader is None else _reasons_reader(shop_id, customer_id)
