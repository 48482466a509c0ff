"""Reads for predictions: the shop's history as frames for `predictions.ml`, scores for pages and API."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from django.db import connection
from django.db.models import Max, Min

from behavior.models import GUEST_CUSTOMER_ID, Customer, Order
from ecomsight.db import epoch_sql, read_frame

from ..ml.base import ShopFrames


def shop_frames(
    *,
    shop_id: int,
    until: datetime | None = None,
    customer_range: tuple[int, int] | None = None,
    include_events: bool = True,
    sample_share: float | None = None,
    customer_ids: list[int] | None = None,
    guests: bool = False,
) -> ShopFrames:
    """Everything the models read for one shop, in four bulk queries (never one per customer).

    `until` keeps what happened after it out of memory (feature code still filters by cutoff itself);
    `customer_range` (first and last customer id, inclusive) reads one scoring chunk's customers;
    `sample_share` (0-1) reads only that share of the customers, chosen by `customer_sample_sql`; `customer_ids`
    these customers only (the re-scoring of changed customers: one index probe per customer). The shop's guest
    customer (behavior.models.GUEST_CUSTOMER_ID: guest checkouts, nobody's churn or value) is left out, its orders
    too, unless `guests` (the forecasts: the shop's sales are everyone's)."""
    time_filter = ""
    params: list = [shop_id]
    if until is not None:
        time_filter = " AND {col} <= %s"
        params.append(connection.ops.adapt_datetimefield_value(until))
    guest = None if guests else guest_customer_pk(shop_id=shop_id)
    customer_filter, who_params = _customers_sql(customer_range=customer_range, customer_ids=customer_ids,
                                                 sample_share=sample_share, guest=guest)
    customer_params: list = [shop_id, *who_params]
    time_filter += customer_filter
    params.extend(who_params)

    customers = read_frame(
        f"SELECT id, {epoch_sql('signup_at')} FROM behavior_customer WHERE shop_id = %s"
        + customer_filter.format(who="id"),
        customer_params,
        columns=["customer_id", "signup_at"],
        epoch_columns=["signup_at"],
        dtypes={"customer_id": "int64"},
    )
    orders = read_frame(
        f"SELECT id, customer_id, {epoch_sql('placed_at')}, total, item_count, status FROM behavior_order"
        f" WHERE shop_id = %s{time_filter.format(col='placed_at', who='customer_id')}",
        params,
        columns=["order_id", "customer_id", "placed_at", "total", "item_count", "status"],
        epoch_columns=["placed_at"],
        dtypes={"order_id": "int64", "customer_id": "int64", "total": "float64", "item_count": "float64",
                "status": "str"},
    )
    chunk_orders = ""
    if customer_range is not None or customer_ids is not None:
        chunk_orders = lines_by_order_ids_sql(time_filter.format(col="placed_at", who="customer_id"))
    order_lines = read_frame(
        f"SELECT l.order_id, o.customer_id, {epoch_sql('o.placed_at')}, l.product_id, p.category_id,"
        " l.quantity, l.unit_price FROM behavior_orderline l"
        " JOIN behavior_order o ON o.id = l.order_id"
        " JOIN catalog_product p ON p.id = l.product_id"
        f" WHERE l.shop_id = %s{time_filter.format(col='o.placed_at', who='o.customer_id')}{chunk_orders}",
        params + params if chunk_orders else params,
        columns=["order_id", "customer_id", "placed_at", "product_id", "category_id", "quantity", "unit_price"],
        epoch_columns=["placed_at"],
        dtypes={"order_id": "int64", "customer_id": "int64", "product_id": "int64", "category_id": "float64",
                "quantity": "float64", "unit_price": "float64"},
    )
    if include_events:
        events = read_frame(
            f"SELECT customer_id, {epoch_sql('occurred_at')}, type, product_id FROM behavior_event"
            f" WHERE shop_id = %s{time_filter.format(col='occurred_at', who='customer_id')}",
            params,
            columns=["customer_id", "occurred_at", "type", "product_id"],
            epoch_columns=["occurred_at"],
            dtypes={"customer_id": "int64", "type": "str", "product_id": "float64"},
        )
    else:
        events = pd.DataFrame({"customer_id": pd.Series(dtype="int64"),
                               "occurred_at": pd.Series(dtype="datetime64[ns, UTC]"),
                               "type": pd.Series(dtype="str"), "product_id": pd.Series(dtype="float64")})
    return ShopFrames(customers=customers, orders=orders, order_lines=order_lines, events=events,
                      reviews=customer_reviews_frame(shop_id=shop_id, until=until, customer_range=customer_range,
                                                     sample_share=sample_share, customer_ids=customer_ids,
                                                     guest=guest))


def typical_repeat_gap_days(*, shop_id: int, until: datetime) -> float | None:
    """The shop's typical gap between a customer's orders up to `until`: the median, over its repeat customers
    (orders that were not cancelled spread over a day or more; the guest customer left out), of each one's usual
    gap (first to last order over the orders less one: the features' mean_gap_days). None without a repeat
    customer. What a single-order customer's silence is measured against (reasons.lapsed_mask). One aggregate
    over the shop's orders."""
    guest = guest_customer_pk(shop_id=shop_id)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY gap) FROM ("
            " SELECT EXTRACT(EPOCH FROM MAX(placed_at) - MIN(placed_at)) / 86400.0 / (COUNT(*) - 1) AS gap"
            " FROM behavior_order WHERE shop_id = %s AND placed_at <= %s AND status <> 'cancelled'"
            " AND customer_id IS NOT NULL AND customer_id <> %s GROUP BY customer_id"
            " HAVING COUNT(*) >= 2 AND MAX(placed_at) - MIN(placed_at) >= INTERVAL '1 day') g",
            [shop_id, until, guest or 0],
        )
        row = cursor.fetchone()
    return float(row[0]) if row and row[0] is not None else None


def guest_customer_pk(*, shop_id: int) -> int | None:
    """The id of the shop's guest customer (behavior.models.GUEST_CUSTOMER_ID), None when it has none."""
    return Customer.objects.filter(shop_id=shop_id, external_id=GUEST_CUSTOMER_ID).values_list("pk", flat=True).first()


def lines_by_order_ids_sql(orders_where: str) -> str:
    """" AND l.order_id = ANY(…)" (one %s, the shop id, then `orders_where`'s parameters): order lines `l` of a
    range or list of customers found by the ids of their orders (`orders_where`: " AND …" over behavior_order's
    columns), through the lines' order_id index. Joined from the orders' side alone, the planner hashed every
    line of the shop for each range, so a scoring chunk's or a recommendation partition's read grew with the shop
    (a 25,000-customer chunk of a 2,000,000-customer shop: a parallel scan of its 15 M lines, 3.8-5.3 s on one
    core, against 1.5-1.6 s this way). Whole-shop and sampled reads keep the plain join."""
    return f" AND l.order_id = ANY(ARRAY(SELECT id FROM behavior_order WHERE shop_id = %s{orders_where}))"


SAMPLE_BUCKETS = 1_000_000


def _customers_sql(*, customer_range: tuple[int, int] | None, customer_ids: list[int] | None,
                   sample_share: float | None, guest: int | None = None) -> tuple[str, list]:
    """The SQL (" AND …" with `{who}` for the customer id column) and parameters that keep the customers a
    read asks for: an id range (a scoring chunk), a list (re-scoring), a sample (training); never `guest`."""
    sql, params = "", []
    if guest is not None:
        sql += " AND {who} <> %s"
        params.append(guest)
    if customer_range is not None:
        sql += " AND {who} BETWEEN %s AND %s"
        params.extend(customer_range)
    if customer_ids is not None:
        sql += " AND {who} = ANY(%s)"
        params.append(list(customer_ids))
    if sample_share is not None and sample_share < 1:
        sql += " AND " + customer_sample_sql("{who}")
        params.append(sample_threshold(sample_share))
    return sql, params


def customer_sample_sql(column: str) -> str:
    """SQL that keeps a customer when the stable hash of its id falls under a threshold (one %s parameter,
    `sample_threshold`): the same customers whatever the query, the cutoff or the day, so a sample's orders,
    lines, events and reviews belong to the same people, and every group of customers (buyers, lapsed,
    big spenders) keeps its share in expectation — which also keeps the label rates, so the sampled model's
    probabilities need no re-weighting. PostgreSQL's hashint8 is stable across versions and platforms."""
    return f"(hashint8({column})::bigint + 2147483648) %% {SAMPLE_BUCKETS} < %s"


def sample_threshold(share: float) -> int:
    """The `customer_sample_sql` parameter that keeps about `share` (0-1) of the customers."""
    return max(1, round(min(1.0, max(0.0, share)) * SAMPLE_BUCKETS))


def customer_count(*, shop_id: int) -> int:
    """How many customers the shop has (what decides whether training reads a sample)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM behavior_customer WHERE shop_id = %s", [shop_id])
        return int(cursor.fetchone()[0])


def customer_reviews_frame(*, shop_id: int, until: datetime | None = None,
                           customer_range: tuple[int, int] | None = None,
                           sample_share: float | None = None,
                           customer_ids: list[int] | None = None, guest: int | None = None) -> pd.DataFrame | None:
    """The reviews written by customers, as the churn features read them (ShopFrames.reviews); None when
    the shop has no analysed review (its models then see no review features at all)."""
    from reviews.ml.aspects import ASPECTS

    sql = (f"SELECT customer_id, {epoch_sql('created_at')}, rating, sentiment, aspects FROM behavior_review "
           "WHERE shop_id = %s AND customer_id IS NOT NULL AND created_at IS NOT NULL AND sentiment <> ''")
    params: list = [shop_id]
    if until is not None:
        sql += " AND created_at <= %s"
        params.append(connection.ops.adapt_datetimefield_value(until))
    who_sql, who_params = _customers_sql(customer_range=customer_range, customer_ids=customer_ids,
                                         sample_share=sample_share, guest=guest)
    sql += who_sql.format(who="customer_id")
    params.extend(who_params)
    frame = read_frame(sql, params, columns=["customer_id", "created_at", "stars", "sentiment", "aspects"],
                       epoch_columns=["created_at"], dtypes={"customer_id": "int64", "stars": "float64",
                                                             "sentiment": "str"})
    if frame.empty:
        return None
    codes = {aspect: float(i) for i, aspect in enumerate(ASPECTS)}

    def first_aspect(value) -> float:
        found = json.loads(value) if isinstance(value, str) and value else (value or [])
        return codes.get(found[0], -1.0) if found else -1.0

    return pd.DataFrame({"customer_id": frame["customer_id"], "created_at": frame["created_at"],
                         "stars": frame["stars"], "negative": frame["sentiment"] == "negative",
                         "aspect": frame["aspects"].map(first_aspect).astype("float64")})


@dataclass(frozen=True)
class InterestCatalogue:
    """What the interest profile reads of the catalogue: products with a category or a brand (product_id,
    category_id float64 NaN none, brand str), and every category's parent (None for a root)."""

    products: pd.DataFrame
    category_parents: dict[int, int | None]


def interest_catalogue(*, shop_id: int) -> InterestCatalogue:
    """The shop's products that have a category or a brand, and its category tree: two queries, whatever the
    number of customers (an empty frame for a shop whose products have neither)."""
    products = read_frame(
        "SELECT id, category_id, brand FROM catalog_product WHERE shop_id = %s"
        " AND (category_id IS NOT NULL OR brand <> '')",
        [shop_id], columns=["product_id", "category_id", "brand"],
        dtypes={"product_id": "int64", "category_id": "float64", "brand": "str"})
    parents: dict[int, int | None] = {}
    if products["category_id"].notna().any():
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, parent_id FROM catalog_category WHERE shop_id = %s", [shop_id])
            parents = {int(i): (int(p) if p is not None else None) for i, p in cursor.fetchall()}
    return InterestCatalogue(products=products, category_parents=parents)


def data_date_range(*, shop_id: int) -> tuple[datetime | None, datetime | None]:
    """First and last order timestamps of a shop (what `--as-of` defaults to)."""
    agg = Order.objects.filter(shop_id=shop_id).aggregate(first=Min("placed_at"), last=Max("placed_at"))
    return agg["first"], agg["last"]
