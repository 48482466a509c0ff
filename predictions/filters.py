"""The at-risk list's filter: parsed from a URL's query string, stored in Segment.filters, read by the API.

One plain dataclass so that a shared link, a saved segment and an API call mean exactly the same
customers. Probabilities are whole percents (what a marketer types: "70"), money is in the shop's
currency, days are whole days before the scores' date. Bad values never raise on a page: the field
is dropped and its problem recorded in `errors`, so a mistyped link still shows a (wider) list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from urllib.parse import urlencode

BANDS = ("high", "medium", "low")

# Sort key -> label. The default puts the customers most worth saving first.
SORTS = {
    "risk": "Revenue at risk (highest first)",
    "churn": "Churn probability (highest first)",
    "purchase": "Purchase probability (highest first)",
    "value": "Value, 12-month spend (highest first)",
    "last_order": "Last order (longest ago first)",
}
DEFAULT_SORT = "risk"


@dataclass(frozen=True)
class AtRiskFilter:
    """Which scored customers to list, and in which order. Every field is optional (None / empty = any)."""

    bands: tuple[str, ...] = ()
    churn_min: int | None = None  # percent, inclusive
    churn_max: int | None = None
    value_min: float | None = None  # 12-month spend, shop currency
    value_max: float | None = None
    days_min: int | None = None  # days since the last order, inclusive
    days_max: int | None = None
    category: int | None = None  # a catalog.Category id: customers who bought in it or below it
    country: str = ""
    # Customers who left a negative review (the reviews app's sentiment) in the N days before the scores' date.
    negative_review_days: int | None = None
    segment: int | None = None  # a Segment id whose filter is applied as well
    limit: int | None = None  # only the first N customers in the sort order ("the top 50")
    sort: str = DEFAULT_SORT
    errors: tuple[str, ...] = field(default=(), compare=False)

    # ---- construction ----------------------------------------------------------------------

    @classmethod
    def from_query(cls, query: Mapping) -> AtRiskFilter:
        """Parse a QueryDict (request.GET) or a plain dict. Repeated `band` params select several bands."""
        if hasattr(query, "getlist"):
            bands = query.getlist("band")
        else:
            raw = query.get("band") or query.get("bands") or []
            bands = [raw] if isinstance(raw, str) else list(raw)
        data = {k: query.get(k) for k in _SCALAR_FIELDS}
        data["bands"] = bands
        return cls._parse(data)

    @classmethod
    def from_dict(cls, data: Mapping) -> AtRiskFilter:
        """Rebuild a filter saved with `to_dict()` (unknown keys are ignored: old segments keep working)."""
        return cls._parse({**{k: data.get(k) for k in _SCALAR_FIELDS}, "bands": data.get("bands") or []})

    @classmethod
    def _parse(cls, data: Mapping) -> AtRiskFilter:
        errors: list[str] = []
        bands = tuple(b for b in BANDS if b in {str(x).strip().lower() for x in data["bands"]})
        churn_min = _number(data.get("churn_min"), int, 0, 100, "Churn probability from", errors)
        churn_max = _number(data.get("churn_max"), int, 0, 100, "Churn probability to", errors)
        value_min = _number(data.get("value_min"), float, 0, None, "Value from", errors)
        value_max = _number(data.get("value_max"), float, 0, None, "Value to", errors)
        days_min = _number(data.get("days_min"), int, 0, None, "Days since last order from", errors)
        days_max = _number(data.get("days_max"), int, 0, None, "Days since last order to", errors)
        category = _number(data.get("category"), int, 1, None, "Category", errors)
        segment = _number(data.get("segment"), int, 1, None, "Segment", errors)
        negative_review_days = _number(data.get("negative_review_days"), int, 1, None,
                                       "Negative review in the last … days", errors)
        limit = _number(data.get("limit"), int, 1, MAX_LIMIT, "Only the top", errors)
        sort = str(data.get("sort") or DEFAULT_SORT)
        if sort not in SORTS:
            errors.append(f"Unknown sort “{sort}”; sorted by revenue at risk instead.")
            sort = DEFAULT_SORT
        for low, high, label in ((churn_min, churn_max, "churn probability"), (value_min, value_max, "value"),
                                 (days_min, days_max, "days since last order")):
            if low is not None and high is not None and low > high:
                errors.append(f"The {label} range is empty (from is above to).")
        return cls(
            bands=bands, churn_min=churn_min, churn_max=churn_max, value_min=value_min, value_max=value_max,
            days_min=days_min, days_max=days_max, category=category,
            country=str(data.get("country") or "").strip()[:64], negative_review_days=negative_review_days,
            segment=segment, limit=limit,
            sort=sort, errors=tuple(errors),
        )

    # ---- output ----------------------------------------------------------------------------

    def to_dict(self) -> dict:
        """JSON-ready, without defaults (so saved segments stay small and readable)."""
        out = {}
        for f in fields(self):
            if f.name == "errors":
                continue
            value = getattr(self, f.name)
            if value in (None, "", ()) or (f.name == "sort" and value == DEFAULT_SORT):
                continue
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def to_query_string(self, **overrides) -> str:
        """The URL query (without "?") that `from_query` reads back to an equal filter. `overrides` replace fields."""
        data = asdict(replace(self, **overrides)) if overrides else asdict(self)
        pairs: list[tuple[str, str]] = [("band", b) for b in data.pop("bands")]
        data.pop("errors")
        for key in _SCALAR_FIELDS:
            value = data[key]
            if value in (None, "") or (key == "sort" and value == DEFAULT_SORT):
                continue
            pairs.append((key, _format_number(value)))
        return urlencode(pairs)

    def without_segment(self) -> AtRiskFilter:
        return replace(self, segment=None)

    @property
    def is_empty(self) -> bool:
        """True when no field narrows the list (the sort does not count)."""
        return not any(v for k, v in self.to_dict().items() if k != "sort")


_SCALAR_FIELDS = ("churn_min", "churn_max", "value_min", "value_max", "days_min", "days_max", "category",
                  "country", "negative_review_days", "segment", "limit", "sort")
MAX_LIMIT = 1_000_000


def _number(raw, kind, low, high, label: str, errors: list[str]):
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    try:
        value = kind(float(str(raw).strip().replace(",", ".")))
    except (TypeError, ValueError):
        errors.append(f"{label}: “{raw}” is not a number, so it was ignored.")
        return None
    if value != value or (low is not None and value < low) or (high is not None and value > high):  # NaN too
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        errors.append(f"{label} must be {bounds}, so it was ignored.")
        return None
    return value


def _format_number(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
