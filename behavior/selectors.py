"""Reads of the behavior app: the data quality report.

Every figure is an aggregate query, one scan per table (the impossible-date checks and stand-ins are
counted in the same pass as the completeness); orders and events are counted per day, so only per-day
totals (a few thousand rows at most) come back to Python, to add up and find gaps in daily volume.
Those queries read every row of the shop's biggest tables (bench/quality_page.py: well under a second on
the demo-size shop, more at 200,000 customers with events), so the report is kept in the Django cache
for a few minutes, under a key that changes as soon as an import starts, commits a batch or finishes:
the page shows fresh figures after every import."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from django.core.cache import cache
from django.db.models import Count, F, Max, Min, Q, Sum
from django.db.models.functions import Lower, TruncDate
from django.utils import timezone

from accounts.models import Shop
from behavior.ingest.idspelling import spelling_key_sql
from behavior.models import GUEST_CUSTOMER_ID, Customer, Event, ImportJob, Order, OrderLine
from catalog.models import Product
from ecomsight.crypto import email_index

EARLIEST_PLAUSIBLE = datetime(1990, 1, 1, tzinfo=UTC)

# Per table: the columns whose completeness is reported, each with the condition "has a value".
_COMPLETENESS = {
    "customers": (Customer, "shop", {"email": ~Q(email=""), "name": ~Q(name=""), "country": ~Q(country=""),
                                     "signup_at": Q(signup_at__isnull=False)}),
    "products": (Product, "shop", {"title": ~Q(title=""), "description": ~Q(description=""),
                                   "category": Q(category__isnull=False), "brand": ~Q(brand=""),
                                   "price": Q(price__isnull=False)}),
    "orders": (Order, "shop", {"total": Q(total__isnull=False), "currency": ~Q(currency=""),
                               "item_count": Q(item_count__isnull=False)}),
    "order_lines": (OrderLine, "shop", {"product": Q(product__isnull=False),
                                        "unit_price": Q(unit_price__isnull=False)}),
    "events": (Event, "shop", {"product": Q(product__isnull=False), "session_id": ~Q(session_id=""),
                               "properties": Q(properties__isnull=False)}),
}
_DATES = {"customers": (Customer, "signup_at"), "orders": (Order, "placed_at"), "events": (Event, "occurred_at")}
_GAPS = ("orders", "events")  # the tables whose gaps in daily volume are reported


QUALITY_CACHE_SECONDS = 300


def customer_by_email(*, shop: Shop, email: str):
    """The shop's customers with this email (any case, surrounding spaces ignored), through the blind index:
    the stored emails are Fernet tokens with random IVs, so the index is the only way to find one."""
    index = email_index(email)
    return Customer.objects.filter(shop=shop, email_index=index) if index else Customer.objects.none()


def customer_exists(*, shop: Shop, external_id: str) -> bool:
    """Whether the shop has a customer with this id of its own."""
    return Customer.objects.filter(shop=shop, external_id=external_id).exists()


def customer_counted_list(*, shop: Shop):
    """The shop's customers as pages count them ("5,000 customers", "N of M scored"): its guest customer
    (behavior.models.GUEST_CUSTOMER_ID: guest checkouts, nobody) left out, as the customer models leave it out."""
    return Customer.objects.filter(shop=shop).exclude(external_id=GUEST_CUSTOMER_ID)


def quality_report(*, shop: Shop, now: datetime | None = None, use_cache: bool = True) -> dict:
    """The data quality of a shop: completeness per column, date ranges, duplicates, impossible dates,
    stand-in records, and gaps in daily volume. A JSON-ready dict (dates as ISO strings).

    Served from the cache (at most QUALITY_CACHE_SECONDS old, and never older than the shop's last import)
    unless `use_cache` is False or a `now` is given (a report as of a given time is computed for it).
    Writes outside imports (the REST API) show within QUALITY_CACHE_SECONDS; `generated_at` says when."""
    if now is not None or not use_cache:
        return _report(shop, now or timezone.now())
    key = quality_cache_key(shop=shop)
    report = cache.get(key)
    if report is None:
        report = _report(shop, timezone.now())
        cache.set(key, report, QUALITY_CACHE_SECONDS)
    return report


def quality_cache_key(*, shop: Shop) -> str:
    """The cache key of the shop's report: it names the shop (and when it was created, so a test database
    re-created with the same ids never meets an old entry) and its imports (how many, how many rows they
    committed, when the last one finished), so any import progress makes a new key."""
    imports = ImportJob.objects.filter(shop=shop).aggregate(n=Count("id"), rows=Sum("rows_committed"),
                                                            last=Max("finished_at"))
    last = imports["last"].timestamp() if imports["last"] else 0
    return (f"quality-report:v3:{shop.pk}:{shop.created_at.timestamp():.6f}:"
            f"{imports['n']}:{imports['rows'] or 0}:{last:.6f}")


def _report(shop: Shop, now: datetime) -> dict:
    figures = _table_figures(shop, now)
    return {
        "shop": shop.slug,
        "generated_at": now.isoformat(),
        "tables": {name: {k: v for k, v in table.items() if k != "gaps"} for name, (table, _) in figures.items()},
        "duplicates": _duplicates(shop),
        "dates": {
            "orders_before_1990": figures["orders"][1]["before_1990"],
            "orders_in_future": figures["orders"][1]["in_future"],
            "orders_before_signup": Order.objects.filter(shop=shop, customer__signup_at__isnull=False,
                                                         placed_at__lt=F("customer__signup_at")).count(),
            "events_before_1990": figures["events"][1]["before_1990"],
            "events_in_future": figures["events"][1]["in_future"],
            "signups_in_future": figures["customers"][1]["in_future"],
        },
        "stubs": {"customers": figures["customers"][1]["stubs"], "products": figures["products"][1]["stubs"]},
        "catch_all_customers": _catch_all_customers(shop, orders=figures["orders"][0]["rows"]),
        # Nothing converts an order's currency: orders in another one are added to the shop's figures as they are.
        "currencies": {"shop": shop.currency, "orders_in_other_currencies": dict(
            Order.objects.filter(shop=shop).exclude(currency="").exclude(currency=shop.currency).order_by()
            .values_list("currency").annotate(n=Count("id")).order_by("currency"))},
        "gaps": {name: figures[name][0]["gaps"] for name in _GAPS},
    }


# Per table, the checks counted in the same pass as its completeness (one scan of the table each).
_CHECKS = {
    # The guest customer is a stand-in of no customer (guest checkouts): not counted as one.
    "customers": lambda now: {"in_future": Q(signup_at__gt=now),
                              "stubs": Q(is_stub=True) & ~Q(external_id=GUEST_CUSTOMER_ID)},
    "products": lambda now: {"stubs": Q(is_stub=True)},
    "orders": lambda now: {"before_1990": Q(placed_at__lt=EARLIEST_PLAUSIBLE), "in_future": Q(placed_at__gt=now)},
    "events": lambda now: {"before_1990": Q(occurred_at__lt=EARLIEST_PLAUSIBLE), "in_future": Q(occurred_at__gt=now)},
}


def _table_figures(shop: Shop, now: datetime) -> dict[str, tuple[dict, dict]]:
    """Per table, one query: (rows, completeness, date range, and for orders and events the gaps in daily
    volume) for the report, and the checks' counts. Orders and events are counted per day (a few hundred
    rows back) so that one scan gives the totals and the days with records alike."""
    figures = {}
    for name, (model, _, columns) in _COMPLETENESS.items():
        checks = _CHECKS.get(name, lambda now: {})(now)
        counts = {"rows": Count("id")}
        counts.update({f"c_{column}": Count("id", filter=condition) for column, condition in columns.items()})
        counts.update({f"k_{check}": Count("id", filter=condition) for check, condition in checks.items()})
        field = _DATES[name][1] if name in _DATES else None
        rows = model.objects.filter(shop=shop).order_by()
        if name in _GAPS:
            per_day = list(rows.annotate(day=TruncDate(field, tzinfo=UTC)).values("day")
                           .annotate(first=Min(field), last=Max(field), **counts))
            found = {key: sum(day[key] for day in per_day) for key in counts}
            found["first"] = min((day["first"] for day in per_day), default=None)
            found["last"] = max((day["last"] for day in per_day), default=None)
        else:
            found = rows.aggregate(**counts, **({"first": Min(field), "last": Max(field)} if field else {}))
        total = found["rows"]
        table = {"rows": total,
                 "completeness": {column: round(found[f"c_{column}"] / total, 4) if total else None
                                  for column in columns}}
        if field:
            table["date_range"] = {"first": _iso(found["first"]), "last": _iso(found["last"])}
        if name in _GAPS:
            table["gaps"] = _gaps(sorted(day["day"] for day in per_day if day["day"] is not None))
        figures[name] = (table, {check: found[f"k_{check}"] for check in checks})
    return figures


# A customer with at least this many orders and this share of the shop's looks like guest checkouts stored under
# one id ("GUEST", "0", the email field of a phone order): their churn, value and lists describe nobody.
CATCH_ALL_MIN_ORDERS = 100
CATCH_ALL_MIN_SHARE = 0.05


def _catch_all_customers(shop: Shop, *, orders: int) -> list[dict]:
    """The customers whose orders look like many people's (at most 5, the biggest first)."""
    if orders < CATCH_ALL_MIN_ORDERS:
        return []
    least = max(CATCH_ALL_MIN_ORDERS, int(CATCH_ALL_MIN_SHARE * orders))
    # Not the shop's guest customer: its orders are guest checkouts already, left out of the models.
    top = (Order.objects.filter(shop=shop).exclude(customer__external_id=GUEST_CUSTOMER_ID).order_by()
           .values("customer_id").annotate(n=Count("id"))
           .filter(n__gte=least).order_by("-n")[:5])
    ids = dict(Customer.objects.filter(pk__in=[row["customer_id"] for row in top]).values_list("pk", "external_id"))
    return [{"customer_id": ids.get(row["customer_id"], ""), "orders": row["n"], "share": round(row["n"] / orders, 3)}
            for row in top]


def _duplicates(shop: Shop) -> dict:
    # Orders with the same customer, time and total under different ids: usually one order exported twice. Not
    # orders without a total: baskets dated by the day alone (two a day, distinct ids) are no copies (an analyst).
    groups = (Order.objects.filter(shop=shop, total__isnull=False).order_by()
              .values("customer_id", "placed_at", "total").annotate(n=Count("id")).filter(n__gt=1))
    figures = groups.aggregate(groups=Count("customer_id"), extra=Sum(F("n") - 1))
    recent = ImportJob.objects.filter(shop=shop).order_by("-created_at")[:20]
    by_kind: dict[str, int] = {}
    for job in recent.values("kind", "duplicates", "rejected"):
        by_kind[job["kind"]] = by_kind.get(job["kind"], 0) + job["duplicates"]
    # Customer ids equal but for their case (C00002 and c00002): ids are read as written, so they are two customers;
    # a system that wrote both probably meant one (an outside analyst's 300 customers were stored as 418).
    # Product ids that differ only in case, spaces or leading zeros ("Blue T-Shirt M" and "blue t-shirt  m": product
    # names used as ids, typed by hand; "0032792" and "32792": a spreadsheet dropped the zeros of some files): each
    # spelling is a product of its own, and its sales and recommendations are split.
    return {
        "orders_same_customer_time_total": {"groups": figures["groups"] or 0, "extra_rows": figures["extra"] or 0},
        "customer_ids_differing_only_in_case": _alike_ids(Customer, shop, Lower("external_id")),
        # The rule of product ids, and of an import's customer ids (behavior.ingest.idspelling): 0007 and 7 too.
        "customer_ids_differing_only_in_spelling": _alike_ids(Customer, shop, spelling_key_sql("external_id")),
        "product_ids_differing_only_in_spelling": _alike_ids(Product, shop, spelling_key_sql("external_id")),
        "recent_imports": {"imports": len(recent), "duplicate_rows_by_kind": by_kind},
    }


def _alike_ids(model, shop: Shop, key) -> dict:
    """Groups of the shop's ids of `model` that `key` makes one, and the rows beyond one a group."""
    alike = (model.objects.filter(shop=shop).order_by().annotate(key=key).values("key")
             .annotate(n=Count("id")).filter(n__gt=1))
    figures = alike.aggregate(groups=Count("key"), extra=Sum(F("n") - 1))
    return {"groups": figures["groups"] or 0, "extra_rows": figures["extra"] or 0}


def _gaps(days: list[date]) -> dict:
    """Days without any record inside the table's date range (`days`: the sorted days with records), and the
    longest such run."""
    if not days:
        return {"days": 0, "empty_days": 0, "longest_gap_days": 0, "longest_gap": None}
    empty, longest, longest_at = 0, 0, None
    for before, after in zip(days, days[1:], strict=False):
        missing = (after - before).days - 1
        empty += missing
        if missing > longest:
            longest, longest_at = missing, (before + timedelta(days=1), after - timedelta(days=1))
    return {"days": (days[-1] - days[0]).days + 1, "empty_days": empty, "longest_gap_days": longest,
            "longest_gap": {"from": longest_at[0].isoformat(), "to": longest_at[1].isoformat()} if longest_at else None}


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None
