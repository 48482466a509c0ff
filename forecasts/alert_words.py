"""Alerts in a marketer's words: what a monitor's metric and segment are ("Refunds", "Germany"), what happened
("above the expected: 26 against 0.9, about 9 times the usual day-to-day spread") and which series of the Forecast
page comes nearest to it. The page and the alerts email: the API, the webhook, `detect_anomalies` and the stored
alerts keep the codes."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from behavior.ingest.values import country_name

METRIC_WORDS = {
    "orders": "Orders", "revenue": "Revenue", "aov": "Average order value", "refunds": "Refunds",
    "refund_rate": "Share of orders refunded", "cancellations": "Cancellations",
    "cancel_rate": "Share of orders cancelled", "new_customers": "New customers",
}
MONEY_METRICS = ("revenue", "aov")
RATE_METRICS = ("refund_rate", "cancel_rate")
# What the Forecast page can show (forecasts.ml.series.MEASURES of its levels); the rest link to the orders.
FORECAST_MEASURES = ("orders", "revenue")


def metric_words(metric: str) -> str:
    """ "refunds" -> "Refunds"; "events_view" -> "Site events: view"."""
    if metric.startswith("events_"):
        return f"Site events: {metric.removeprefix('events_').replace('_', ' ')}"
    return METRIC_WORDS.get(metric, metric)


def segment_words(segment: str) -> str:
    """ "shop" (or a metric muted everywhere, "") -> "Whole shop"; "country:DE" -> "Germany";
    "category:Home > Kitchen" -> "Category Home > Kitchen"."""
    kind, _, value = segment.partition(":")
    if segment in ("shop", ""):
        return "Whole shop"
    if kind == "country":
        return country_name(value)
    if kind == "category":
        return f"Category {value}"
    return segment


def alert_value(value: float | None, metric: str, currency: str = "") -> str:
    """A monitored value: money with cents and its currency ("1,234.50 EUR"), a share in percent ("4.2 %"), a
    count whole when it is whole ("8", "1,204"), else with one decimal (an expected 0.9 a day)."""
    if value is None:
        return "—"
    value = float(value)
    if metric in MONEY_METRICS:
        return f"{value:,.2f} {currency}".rstrip()
    if metric in RATE_METRICS:
        return f"{value:.1%}".replace("%", " %")
    if value.is_integer() or abs(value) >= 10:
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def alert_happened(*, direction: str, actual: float, expected: float, score: float, metric: str,
                   currency: str = "") -> str:
    """ "above the expected: 26 against 0.9, about 9 times the usual day-to-day spread" (the score is the robust
    z of forecasts.ml.anomalies: how many spreads the day lay from its expected value)."""
    side = "above" if direction == "up" else "below"
    spreads = max(1, int(abs(score)))
    return (f"{side} the expected: {alert_value(actual, metric, currency)} against "
            f"{alert_value(expected, metric, currency)}, about {spreads} time{'s' if spreads > 1 else ''} the usual "
            f"day-to-day spread")


def alert_withdrawn_words(*, direction: str, start, end, withdrawn_at=None) -> str:
    """Why an alert is withdrawn, in words: "withdrawn on 8 Dec 2026: later data for that day showed no drop"."""
    when = f" on {_day(withdrawn_at)}" if withdrawn_at is not None else ""
    days = "that day" if end is None or end == start else "those days"
    return f"withdrawn{when}: later data for {days} showed no {'rise' if direction == 'up' else 'drop'}"


def _day(day) -> str:
    return f"{day.day} {day:%b %Y}"  # the page's "j M Y"


def alert_line(*, metric: str, segment: str, start, end, direction: str, actual: float, expected: float,
               score: float, currency: str = "") -> str:
    """One alert as the email lists it, in the Alerts page's words: "Share of orders refunded, Germany, 10 May
    2024 to 12 May 2024: above the expected: 19.3 % against 0.3 %, about 9 times the usual day-to-day spread"."""
    when = _day(start) if end is None or end == start else f"{_day(start)} to {_day(end)}"
    happened = alert_happened(direction=direction, actual=actual, expected=expected, score=score, metric=metric,
                              currency=currency)
    return f"{metric_words(metric)}, {segment_words(segment)}, {when}: {happened}"


@dataclass(frozen=True)
class SeriesLink:
    """The Forecast page's series nearest to an alert: its query, its name, and `instead` when it is not the
    alerted metric itself (the page has orders and revenue only)."""

    query: str
    text: str
    instead: str


def alert_series_link(metric: str, segment: str) -> SeriesLink:
    kind, _, value = segment.partition(":")
    level, key = (kind, value) if kind in ("country", "category") and value else ("shop", None)
    measure = metric if metric in FORECAST_MEASURES else "orders"
    params = {"level": level, "measure": measure, "freq": "day"} | ({"key": key} if key else {})
    where = "the whole shop" if level == "shop" else segment_words(segment)
    instead = ""
    if measure != metric:
        what = "site events" if metric.startswith("events_") else metric_words(metric).lower()
        instead = f"the forecast page shows orders and revenue, not {what}"
    return SeriesLink(query=urlencode(params), text=f"{measure.capitalize()} per day, {where}", instead=instead)
