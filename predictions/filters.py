"""The at-risk list's filter: parsed from a URL's query string, stored in Segment.filters, read by the API.

One plain dataclass so that a shared link, a saved segment and an API call mean exactly the same
customers, and one validator (`_parse`) with one set of bounds for the three of them. Probabilities are
whole percents (what a marketer types: "70"), money is in the shop's currency, days are whole days before
the scores' date (at most MAX_DAYS). Bad values never raise on a page: the field is dropped and its
problem recorded in `errors`, so a mistyped link still shows a (wider) list with the page's notice; the
API answers 400 with the first error (the API takes probabilities from 0 to 1 and hands the filter whole
percents: predictions/api/serializers.py); a saved filter with errors is *broken* (`broken`): it matches
nobody and its segment says so, rather than widening to the whole list or failing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from urllib.parse import urlencode

BANDS = ("high", "medium", "low")
# The bounds every reader of a filter shares (web page, saved segment, API): beyond them a value is an error.
MAX_DAYS = 36_500  # 100 years
MAX_MONEY = 1e12
MAX_ID = 2**53 - 1  # ids go through floats in the parser: above 2**53 one would come back changed
MAX_COUNTRY = 64
MAX_CATEGORY = 500  # catalog.Category.path's length
# Brands: the profile keeps a customer's five strongest (InterestConfig.top_brands). From 17 % up no sixth brand
# can reach the share (six would need more than 100 %), so the filter is exact from 20 %.
MIN_BRAND_INTEREST = 20
MAX_BRAND = 200  # catalog.Product.brand's length
MIN_INTEREST = 10  # percent: the interest profile stores shares from 10 % (predictions.ml.interests.InterestConfig)

# Sort key -> label. The default puts the customers most worth saving first.
SORTS = {
    "risk": "Revenue at risk (highest first)",
    "churn": "Chance of leaving (highest first)",
    "purchase": "Chance of buying (highest first)",
    "value": "12-month spend (highest first)",
    "last_order": "Last order (longest ago first)",
}
DEFAULT_SORT = "risk"
# Which scored customers a filter lists. "at_risk" (the default): the churn rows of the scores' run, customers still
# active (a customer who has left is not at risk of leaving). "buyers": the purchase rows, every scored customer
# (lapsed ones included), likeliest buyer first — the likely buyers list, and segments saved from it. A buyer has
# no chance of leaving once lapsed, so the churn filters (bands, churn_min/max) and sorts are the at-risk list's
# only; the chance of buying filters (buy_min/max) are the buyers list's only (for an active customer it is
# 100 − the chance of leaving: predictions.ml.reconcile, so on the at-risk list it would mirror churn_min/max).
LISTS = ("at_risk", "buyers")
# The lists' "Save or win back" choice (`lapsed`), in each list's words: its select and its filter in words say the
# same. The likely buyers list saves nobody from leaving, so its words are plain.
LAPSED_CHOICES = {"at_risk": {False: "Still active (save)", True: "Already lapsed (win back)"},
                  "buyers": {False: "Still active", True: "Already lapsed"}}
DEFAULT_LIST = "at_risk"
BUYERS_SORTS = ("purchase", "value", "last_order")


class FilterError(str):
    """One problem of a filter: its message (what the page shows, a str) and `field`, the filter field it concerns (its
    query parameter: what the API's error names; for a range that is empty, its lower end)."""

    field: str

    def __new__(cls, message: str, *, field: str = "") -> FilterError:
        error = super().__new__(cls, message)
        error.field = field
        return error


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
    # A catalog.Category id (saved segments, the select), or its path as typed ("Home > Kitchen", as the Reviews page
    # takes it) until `predictions.selectors.at_risk.filter_resolved` turns it into the id: customers who bought in it
    # or below it.
    category: int | str | None = None
    # With `category`: customers whose interest in it (and below it) is at least this share of what they buy and
    # view, whole percent (the interest profile of the scores' run, predictions.ml.interests) instead of "bought".
    category_min: int | None = None
    # A product brand (matched without regard to case): customers who bought a product of it; with `brand_min`,
    # customers whose interest in the brand is at least this share, whole percent, from MIN_BRAND_INTEREST.
    brand: str = ""
    brand_min: int | None = None
    country: str = ""
    # Customers who left a negative review (the reviews app's sentiment) in the N days before the scores' date.
    negative_review_days: int | None = None
    segment: int | None = None  # a Segment id whose filter is applied as well
    limit: int | None = None  # only the first N customers in the sort order ("the top 50")
    sort: str = DEFAULT_SORT
    list: str = DEFAULT_LIST  # which list: see LISTS
    buy_min: int | None = None  # chance of buying, percent, inclusive (the buyers list only)
    buy_max: int | None = None
    # True: only customers who already lapsed (CustomerScore.lapsed: a win-back campaign's); False: only those still
    # active (a save campaign's); None: both.
    lapsed: bool | None = None
    errors: tuple[FilterError, ...] = field(default=(), compare=False)

    # ---- construction ----------------------------------------------------------------------

    @classmethod
    def from_query(cls, query: Mapping) -> AtRiskFilter:
        """Parse a QueryDict (request.GET) or a plain dict. Bands: `band` repeated, or `bands` repeated or
        comma-separated (`bands=high,medium`); both may be used."""
        bands: list = []
        for key in ("band", "bands"):
            if hasattr(query, "getlist"):
                raw = query.getlist(key)
            else:
                raw = query.get(key) or []
                raw = [raw] if isinstance(raw, str) else list(raw)
            for value in raw:
                bands.extend(str(value).split(",") if key == "bands" else [value])
        data = {k: query.get(k) for k in _SCALAR_FIELDS}
        data["bands"] = bands
        return cls._parse(data)

    @classmethod
    def from_dict(cls, data: Mapping) -> AtRiskFilter:
        """Rebuild a filter saved with `to_dict()` (unknown keys are ignored: old segments keep working)."""
        return cls._parse({**{k: data.get(k) for k in _SCALAR_FIELDS}, "bands": data.get("bands") or []})

    @classmethod
    def _parse(cls, data: Mapping) -> AtRiskFilter:
        errors: list[FilterError] = []
        raw_bands = data["bands"] if isinstance(data["bands"], list | tuple) else [data["bands"]]
        wanted = {_text(x, errors, "Risk band", "bands").lower() for x in raw_bands} - {""}
        for unknown in sorted(wanted - set(BANDS)):
            errors.append(FilterError(f"Unknown risk band “{unknown[:40]}”: choose among {', '.join(BANDS)}.",
                                      field="bands"))
        bands = tuple(b for b in BANDS if b in wanted)
        churn_min = _number(data.get("churn_min"), int, 0, 100, "Chance of leaving from (%)", errors, "churn_min")
        churn_max = _number(data.get("churn_max"), int, 0, 100, "Chance of leaving to (%)", errors, "churn_max")
        value_min = _number(data.get("value_min"), float, 0, MAX_MONEY, "12-month spend from", errors, "value_min")
        value_max = _number(data.get("value_max"), float, 0, MAX_MONEY, "12-month spend to", errors, "value_max")
        days_min = _number(data.get("days_min"), int, 0, MAX_DAYS, "Days since last order from", errors, "days_min")
        days_max = _number(data.get("days_max"), int, 0, MAX_DAYS, "Days since last order to", errors, "days_max")
        category = _category(data.get("category"), errors)
        category_min = _number(data.get("category_min"), int, MIN_INTEREST, 100,
                               "Interest in the category at least (%)", errors, "category_min")
        if category_min is not None and category is None:
            errors.append(FilterError("Interest in the category at least (%) needs a category.", field="category_min"))
            category_min = None
        brand = _text(data.get("brand"), errors, "Brand", "brand")
        if len(brand) > MAX_BRAND:
            errors.append(FilterError(f"Brand: at most {MAX_BRAND} characters.", field="brand"))
            brand = ""
        brand_min = _number(data.get("brand_min"), int, MIN_BRAND_INTEREST, 100,
                            "Interest in the brand at least (%)", errors, "brand_min")
        if brand_min is not None and not brand:
            errors.append(FilterError("Interest in the brand at least (%) needs a brand.", field="brand_min"))
            brand_min = None
        segment = _number(data.get("segment"), int, 1, MAX_ID, "Segment", errors, "segment")
        negative_review_days = _number(data.get("negative_review_days"), int, 1, MAX_DAYS,
                                       "Negative review in the last … days", errors, "negative_review_days")
        limit = _number(data.get("limit"), int, 1, MAX_LIMIT, "Only the top", errors, "limit")
        country = _text(data.get("country"), errors, "Country", "country")
        if len(country) > MAX_COUNTRY:
            errors.append(FilterError(f"Country: at most {MAX_COUNTRY} characters.", field="country"))
            country = ""
        which = _text(data.get("list"), errors, "List", "list") or DEFAULT_LIST
        if which not in LISTS:
            errors.append(FilterError(f"Unknown list “{which[:40]}”: choose among {', '.join(LISTS)}.", field="list"))
            which = DEFAULT_LIST
        buyers = which == "buyers"
        buy_min = _number(data.get("buy_min"), int, 0, 100, "Chance of buying from (%)", errors, "buy_min")
        buy_max = _number(data.get("buy_max"), int, 0, 100, "Chance of buying to (%)", errors, "buy_max")
        lapsed = _boolean(data.get("lapsed"), "Save or win back (lapsed)", errors, "lapsed")
        if not buyers and (buy_min is not None or buy_max is not None):
            errors.append(FilterError(
                "Chance of buying filters the likely buyers list (list=buyers): for a customer on the at-risk list it "
                "is 100 − the chance of leaving, so filter on the chance of leaving.",
                field="buy_min" if buy_min is not None else "buy_max"))
            buy_min = buy_max = None
        if buyers and (bands or churn_min is not None or churn_max is not None):
            errors.append(FilterError(
                "The likely buyers list has no risk filter (risk band, churn probability): it holds customers who "
                "have already lapsed, who have no chance of leaving.",
                field="bands" if bands else "churn_min" if churn_min is not None else "churn_max"))
            bands, churn_min, churn_max = (), None, None
        sort = _text(data.get("sort"), errors, "Sort", "sort")
        if buyers and not sort:
            sort = "purchase"
        sort = sort or DEFAULT_SORT
        if sort not in SORTS:
            errors.append(FilterError(f"Unknown sort “{sort[:40]}”: choose among {', '.join(SORTS)}.", field="sort"))
            sort = "purchase" if buyers else DEFAULT_SORT
        elif buyers and sort not in BUYERS_SORTS:
            errors.append(FilterError(f"The likely buyers list sorts by {', '.join(BUYERS_SORTS)}, not “{sort}”.",
                                      field="sort"))
            sort = "purchase"
        for low, high, label, name in ((churn_min, churn_max, "chance of leaving", "churn_min"),
                                       (value_min, value_max, "12-month spend", "value_min"),
                                       (days_min, days_max, "days since last order", "days_min"),
                                       (buy_min, buy_max, "chance of buying", "buy_min")):
            if low is not None and high is not None and low > high:
                errors.append(FilterError(f"The {label} range is empty (from is above to).", field=name))
        return cls(
            bands=bands, churn_min=churn_min, churn_max=churn_max, value_min=value_min, value_max=value_max,
            days_min=days_min, days_max=days_max, category=category, category_min=category_min,
            brand=brand, brand_min=brand_min, country=country, negative_review_days=negative_review_days,
            segment=segment, limit=limit, sort=sort, list=which, buy_min=buy_min, buy_max=buy_max, lapsed=lapsed,
            errors=tuple(errors),
        )

    # ---- output ----------------------------------------------------------------------------

    def to_dict(self) -> dict:
        """JSON-ready, without defaults (so saved segments stay small and readable)."""
        out = {}
        for f in fields(self):
            if f.name == "errors":
                continue
            value = getattr(self, f.name)
            if value in (None, "", ()) or (f.name == "sort" and value == DEFAULT_SORT) or (
                    f.name == "list" and value == DEFAULT_LIST):
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
            if value in (None, "") or (key == "sort" and value == DEFAULT_SORT) or (
                    key == "list" and value == DEFAULT_LIST):
                continue
            pairs.append((key, _format_number(value)))
        return urlencode(pairs)

    @property
    def broken(self) -> bool:
        """A saved filter that no longer validates: it matches nobody (never everybody) until saved again."""
        return bool(self.errors)

    @property
    def is_empty(self) -> bool:
        """True when no field narrows the list (the sort and which list do not count)."""
        return not any(v or k == "lapsed" for k, v in self.to_dict().items() if k not in ("sort", "list"))

    @property
    def buyers(self) -> bool:
        """Whether this is the likely buyers list (every customer's chance of buying) rather than the at-risk list."""
        return self.list == "buyers"


_SCALAR_FIELDS = ("churn_min", "churn_max", "value_min", "value_max", "days_min", "days_max", "category",
                  "category_min", "brand", "brand_min", "country", "negative_review_days", "segment", "limit", "sort",
                  "list", "buy_min", "buy_max", "lapsed")
MAX_LIMIT = 1_000_000
# Every query parameter `from_query` reads: a web page refuses any other (ecomsight/query.py).
QUERY_NAMES = ("band", "bands", *_SCALAR_FIELDS)


def _text(raw, errors: list[FilterError], label: str, name: str) -> str:
    """`raw` as stripped text; "" (and an error) for text PostgreSQL cannot hold (NUL, lone surrogates)."""
    if raw is None:
        return ""
    text = str(raw).strip()
    if "\x00" in text or not text_encodable(text):
        errors.append(FilterError(f"{label}: the value holds characters that are not allowed.", field=name))
        return ""
    return text


def _category(raw, errors: list[FilterError]) -> int | str | None:
    """A category id (a whole number: what the select and saved segments hold) or a path ("Home > Kitchen", its
    levels' spacing made the catalogue's); which category it names, the shop's catalogue says (filter_resolved)."""
    if isinstance(raw, int | float) or (isinstance(raw, str) and raw.strip().isascii()
                                          and raw.strip().lstrip("+-").replace(".", "", 1).isdigit()):
        return _number(raw, int, 1, MAX_ID, "Category", errors, "category")
    text = _text(raw, errors, "Category", "category")
    if len(text) > MAX_CATEGORY:
        errors.append(FilterError(f"Category: at most {MAX_CATEGORY} characters.", field="category"))
        return None
    return " > ".join(part.strip() for part in text.split(">") if part.strip()) or None


def text_encodable(text: str) -> bool:
    """Whether `text` can be stored and compared (UTF-8: no lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _number(raw, kind, low, high, label: str, errors: list[FilterError], name: str):
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, bool):
        raw = str(raw)  # a JSON true is not the number 1
    shown = str(raw)[:40]
    try:
        number = float(str(raw).strip().replace(",", ".")) if not isinstance(raw, int | float) else float(raw)
    except (TypeError, ValueError, OverflowError):
        errors.append(FilterError(f"{label}: “{shown}” is not a number.", field=name))
        return None
    bounds = f"between {low} and {high:,.0f}" if high >= 10_000 else f"between {low} and {_format_number(high)}"
    if not math.isfinite(number) or number < low or number > high:  # inf, 1e309, NaN, 10**20 days
        errors.append(FilterError(f"{label} must be {bounds}.", field=name))
        return None
    if kind is int and not number.is_integer():  # 10.5 % read as 10 % would widen the list without a word
        errors.append(FilterError(f"{label}: “{shown}” is not a whole number.", field=name))
        return None
    return kind(number)


def _boolean(raw, label: str, errors: list[FilterError], name: str) -> bool | None:
    """true / false (also 1 / 0, yes / no, a JSON boolean); empty or "all": None."""
    if raw is None or isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("", "all"):
        return None
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    errors.append(FilterError(f"{label}: “{str(raw)[:40]}” is not true or false.", field=name))
    return None


def _format_number(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
