"""`{{ run|run_stamp }}`: when a scoring run was made, in the one format of predictions.run_labels."""

import datetime as dt
import re

from django import template
from django.conf import settings
from django.contrib.humanize.templatetags.humanize import intcomma
from django.utils import timezone

from behavior.ingest.values import country_name as _country_name
from predictions.run_labels import run_stamp as _run_stamp

register = template.Library()


@register.filter
def country_name(code: str) -> str:
    """A customer's country code as its name ("DE" -> "Germany"), as the Forecast page names it."""
    return _country_name(code or "")


@register.filter
def run_stamp(run) -> str:
    """A ScoringRun (its finish, else its start) or a datetime, as "5 Dec 2026, 07:12 UTC"."""
    if run is None or run == "":
        return ""
    at = getattr(run, "finished_at", None) or getattr(run, "created_at", None) if hasattr(run, "as_of") else run
    return _run_stamp(at)


@register.filter
def stale_days(as_of) -> int:
    """Calendar days from `as_of` (a run's datetime or a forecast's date) to today when over settings.STALE_DATA_DAYS
    (a shop whose last import was two months ago read "ordered 6 days ago" of an order 66 days old), else 0."""
    if not as_of:
        return 0
    day = as_of.astimezone(dt.UTC).date() if isinstance(as_of, dt.datetime) else as_of
    days = (timezone.now().astimezone(dt.UTC).date() - day).days  # calendar days, as the pages' dates read
    return days if days > settings.STALE_DATA_DAYS else 0


@register.filter
def range_start(text: str) -> str:
    """ "70–80" -> "70": a histogram's axis at phone width names where each bucket starts."""
    return str(text).split("–", 1)[0]


@register.filter
def compact_count(value) -> str:
    """12 -> "12", 1234 -> "1.2k", 25300 -> "25k": counts above narrow chart columns."""
    n = int(value or 0)
    if n < 1000:
        return str(n)
    if n < 10_000:
        return f"{n / 1000:.1f}k".replace(".0k", "k")
    if n < 1_000_000:
        return f"{round(n / 1000)}k"
    return f"{n / 1_000_000:.1f}M".replace(".0M", "M")


_WHOLE_NUMBER = re.compile(r"(?<![\d.,])\d{4,}(?![\d.,]*\d)")  # 10922, not 1.5 or a part of 12,345


@register.filter
def reason_text(reason) -> str:
    """A stored reason as the pages show it: capitalised, whole numbers with thousands separators ("No order for
    10,922 days"). The stored text (and the API's) stays as the scoring wrote it."""
    text = _WHOLE_NUMBER.sub(lambda m: intcomma(int(m.group(0))), str(reason or ""))
    return text[:1].upper() + text[1:]
