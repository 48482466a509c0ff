"""`{% forecast_card shop %}`: the dashboard's card with the forecast orders and revenue (the weeks that cover the
latest run's horizon, by default the shop's) and the open alerts."""

from django import template

from .. import alert_words
from ..models import Alert
from ..selectors import forecast_run_in_progress, forecast_run_latest, forecast_value_list

register = template.Library()

# What each forecasting model is, in a marketer's words, read after "forecast by" (the technical name stays beside
# it, for analysts). The names are those of forecasts.ml: the JSON of `forecast_backtest`, the API and the CSV
# keep them.
MODEL_WORDS = {
    "naive": "the latest figure, carried forward",
    "seasonal_naive": "the same period of the last season, repeated",
    "auto_ets": "exponential smoothing (level, trend and season)",
    "auto_arima": "a statistical time-series model",
    "auto_theta": "a smoothed trend",
    "croston": "a method for items that sell now and then",
    "adida": "a method for items that sell now and then, over longer periods",
    "lightgbm": "a machine-learning model over all series",
    "customer": "each customer's expected orders, added up",
    "ensemble": "the average of the machine-learning model and the customers' expected orders (on a short history, "
                "of exponential smoothing, a smoothed trend and the customers' expected orders)",
}


@register.inclusion_tag("forecasts/_dashboard_card.html")
def forecast_card(shop):
    if shop is None:
        return {"run": None}
    run = forecast_run_latest(shop_id=shop.pk)
    totals = {}
    span_days = weeks = 0
    if run is not None:
        for measure in ("orders", "revenue"):
            values = forecast_value_list(run=run, level="shop", measure=measure, freq="week")
            if values:
                totals[measure] = (sum(v.point for v in values), sum(v.lo80 or 0 for v in values) if values[0].lo80
                                   is not None else None, values[0].model)
                weeks = len(values)
                span_days = weeks * 7  # whole weeks: a 30-day horizon reads as the 5 weeks it sums
        info = run.summary.get("levels", {}).get("shop", {}).get("orders", {}).get("week", {})
    else:
        info = {}
    return {"run": run, "totals": totals, "info": info, "shop": shop, "span_days": span_days, "weeks": weeks,
            "in_progress": forecast_run_in_progress(shop_id=shop.pk) if run is None else None,
            "open_alerts": Alert.objects.filter(shop=shop, status=Alert.Status.OPEN).count()}


@register.filter
def model_words(name: str) -> str:
    """A model's name in plain words ("a machine-learning model over all series" for lightgbm)."""
    return MODEL_WORDS.get(name, name)


@register.filter
def metric_value(value, metric: str) -> str:
    """A monitored or forecast value as people read it: a rate in percent ("4.2 %"), revenue and average order
    value rounded to whole money, a count (orders, units, events) whole once it is 10 or more or whole ("166", "8";
    "2.5" a day below that)."""
    if value is None:
        return "—"
    value = float(value)
    if metric in ("refund_rate", "cancel_rate"):
        return f"{value:.1%}".replace("%", " %")
    if metric in ("revenue", "aov") or abs(value) >= 10 or value.is_integer():  # 8 refunds, not "8.0"
        return f"{value:,.0f}"
    return f"{value:,.1f}"


@register.filter
def figure_digits(values, measure: str) -> int:
    """The decimals of every figure of a forecast table (points and bands alike): none for revenue (whole money)
    and for counts whose largest point is 10 or more, one below (a slow product's "0.4" a day). Each figure
    formatted alone mixed them: "10.0 – 33", "5.5 – 72" (a new user)."""
    if measure == "revenue":
        return 0
    return 0 if max((abs(v.point) for v in values), default=0.0) >= 10 else 1


@register.filter
def figure(value, digits: int) -> str:
    """A forecast table's figure with `digits` decimals (see figure_digits), thousands grouped; "—" for none."""
    return "—" if value is None else f"{float(value):,.{int(digits)}f}"


@register.filter
def metric_name(metric: str) -> str:
    """A monitor's metric in words ("Refunds", "Share of orders refunded")."""
    return alert_words.metric_words(metric)


@register.filter
def segment_name(segment: str) -> str:
    """A monitor's segment in words ("Germany" for country:DE, "Whole shop")."""
    return alert_words.segment_words(segment)


@register.filter
def alert_happened(alert, currency: str = "") -> str:
    """What an alert saw, in words, its figures as people read them (whole counts, money with cents)."""
    return alert_words.alert_happened(direction=alert.direction, actual=alert.actual, expected=alert.expected,
                                      score=alert.score, metric=alert.metric, currency=currency)


@register.filter
def alert_status(alert) -> str:
    """ "open", "acknowledged", or why it was withdrawn ("withdrawn on 8 Dec 2026: later data for that day showed
    no drop")."""
    if alert.status == Alert.Status.WITHDRAWN:
        return alert_words.alert_withdrawn_words(direction=alert.direction, start=alert.start, end=alert.end,
                                                 withdrawn_at=alert.withdrawn_at)
    return alert.status


@register.filter
def alert_series(alert):
    """The Forecast page's series nearest to the alert (alert_words.SeriesLink)."""
    return alert_words.alert_series_link(alert.metric, alert.segment)
