"""Reads for recommendations: interactions, products and customers as frames, in bulk."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.db import connection

from behavior.models import OrderLine
from catalog.selectors import visual_neighbour_pairs_frame
from ecomsight.db import SqlRows, epoch_sql, read_frame
from predictions.extensions import CustomerRecommendations
from predictions.selectors.frames import customer_count, customer_sample_sql, lines_by_order_ids_sql, sample_threshold

from .models import Recommendation, RecommenderVersion, SimilarProduct

# Behaviour events that say something about a product, and the interaction kind each one is.
EVENT_KINDS = {"view": "view", "add_to_cart": "cart", "wishlist": "wishlist"}
# The frames' "kind" column is a categorical of these: PostgreSQL sends each event's kind as its code (a
# partition's 1.6 M event types as strings cost a parse and a map per row; the recommenders read the codes)
KINDS = ["purchase", *EVENT_KINDS.values()]


@dataclass(frozen=True)
class RecommenderFrames:
    interactions: pd.DataFrame  # customer_id, product_id, ts, kind (categorical of KINDS), quantity, order_id
    products: pd.DataFrame  # product_id, title, description, category, brand, active, created_at, label
    customers: pd.DataFrame  # customer_id
    visual: pd.DataFrame | None = None  # product_id, similar_id, score: the pictures' neighbours (catalog)


def recommender_frames(*, shop_id: int, customer_range: tuple[int, int] | None = None,
                       sample_share: float | None = None) -> RecommenderFrames:
    """Purchases (order lines of non-cancelled orders) and product events of one shop, in three queries.

    `customer_range` (first and last customer id, inclusive) reads one partition's customers and their
    interactions; `sample_share` (0-1) only that share of the customers, the stable sample of
    `customer_sample_sql` (the same people in every query). The products are always the whole catalogue."""
    who, who_params = _customers_sql(customer_range=customer_range, sample_share=sample_share)
    partition_orders, orders_params = "", []
    if customer_range is not None:  # a partition's lines by its orders' ids (lines_by_order_ids_sql)
        partition_orders = lines_by_order_ids_sql(" AND status <> 'cancelled'" + who.format(who="customer_id"))
        orders_params = [shop_id, *who_params]
    purchases = read_frame(
        f"SELECT o.customer_id, l.product_id, {epoch_sql('o.placed_at')}, l.quantity, o.id"
        " FROM behavior_orderline l JOIN behavior_order o ON o.id = l.order_id"
        " WHERE l.shop_id = %s AND o.status <> 'cancelled' AND l.product_id IS NOT NULL"
        + who.format(who="o.customer_id") + partition_orders,
        [shop_id, *who_params, *orders_params],
        columns=["customer_id", "product_id", "ts", "quantity", "order_id"],
        epoch_columns=["ts"],
        dtypes={"customer_id": "int64", "product_id": "int64", "quantity": "float64", "order_id": "float64"},
    )
    purchases["kind"] = pd.Categorical.from_codes(np.zeros(len(purchases), dtype=np.int8), categories=KINDS)
    events = read_frame(
        f"SELECT customer_id, product_id, {epoch_sql('occurred_at')}, {_EVENT_KIND_CODE} FROM behavior_event"
        f" WHERE shop_id = %s AND product_id IS NOT NULL AND type IN ({_EVENT_TYPES})" + who.format(who="customer_id"),
        [shop_id, *who_params],
        columns=["customer_id", "product_id", "ts", "kind"],
        epoch_columns=["ts"],
        dtypes={"customer_id": "int64", "product_id": "int64", "kind": "int8"},
    )
    events["kind"] = pd.Categorical.from_codes(events["kind"], categories=KINDS)
    events["quantity"] = 1.0
    events["order_id"] = float("nan")
    columns = ["customer_id", "product_id", "ts", "kind", "quantity", "order_id"]
    interactions = pd.concat([purchases[columns], events[columns]], ignore_index=True)

    products = read_frame(
        f"SELECT p.id, p.external_id, p.title, p.description, COALESCE(c.path, ''), p.brand, p.active,"
        f" {epoch_sql('p.created_at')} FROM catalog_product p LEFT JOIN catalog_category c ON c.id = p.category_id"
        " WHERE p.shop_id = %s",
        [shop_id],
        columns=["product_id", "external_id", "title", "description", "category", "brand", "active", "created_at"],
        epoch_columns=["created_at"],
        dtypes={"product_id": "int64", "external_id": "str", "title": "str", "description": "str",
                "category": "str", "brand": "str"},
    )
    products["active"] = products["active"].map(lambda v: v in (True, 1, "t", "true", "True"))
    products["label"] = products["title"].where(products["title"] != "", products["external_id"])
    customers = read_frame(
        "SELECT id FROM behavior_customer WHERE shop_id = %s" + who.format(who="id") + " ORDER BY id",
        [shop_id, *who_params], columns=["customer_id"], dtypes={"customer_id": "int64"},
    )
    return RecommenderFrames(interactions=interactions, products=products, customers=customers,
                             visual=visual_neighbour_pairs_frame(shop_id=shop_id))


_EVENT_TYPES = ", ".join(f"'{t}'" for t in EVENT_KINDS)
_EVENT_KIND_CODE = "CASE type " + " ".join(f"WHEN '{t}' THEN {KINDS.index(k)}" for t, k in EVENT_KINDS.items()) + " END"


def _customers_sql(*, customer_range: tuple[int, int] | None, sample_share: float | None) -> tuple[str, list]:
    """" AND …" (with `{who}` for the customer id column) and its parameters: a partition's id range, a sample."""
    sql, params = "", []
    if customer_range is not None:
        sql += " AND {who} BETWEEN %s AND %s"
        params += [int(customer_range[0]), int(customer_range[1])]
    if sample_share is not None and sample_share < 1:
        sql += " AND " + customer_sample_sql("{who}")
        params.append(sample_threshold(sample_share))
    return sql, params


def recommender_as_of(*, shop_id: int) -> pd.Timestamp | None:
    """The shop's last interaction (purchase or product event), as `recommender_frames` reads it: the one instant
    every partition of a build ages its interactions from (None: no interaction yet)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT GREATEST((SELECT MAX({epoch_sql('o.placed_at')}) FROM behavior_orderline l"
            "  JOIN behavior_order o ON o.id = l.order_id"
            "  WHERE l.shop_id = %s AND o.status <> 'cancelled' AND l.product_id IS NOT NULL),"
            f" (SELECT MAX({epoch_sql('occurred_at')}) FROM behavior_event"
            f"  WHERE shop_id = %s AND product_id IS NOT NULL AND type IN ({_EVENT_TYPES})))",
            [shop_id, shop_id])
        seconds = cursor.fetchone()[0]
    return None if seconds is None else pd.Timestamp(int(seconds), unit="s", tz="UTC")


def recommender_purchase_lines(*, shop_id: int) -> int:
    """The shop's purchase lines as the recommenders count them (distinct products per non-cancelled order): what
    decides whether ALS and the sequential member are fitted, for the whole shop, not per partition."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM (SELECT 1 FROM behavior_orderline l JOIN behavior_order o ON o.id = l.order_id"
            " WHERE l.shop_id = %s AND o.status <> 'cancelled' AND l.product_id IS NOT NULL"
            " GROUP BY l.order_id, l.product_id) t", [shop_id])
        return int(cursor.fetchone()[0])


def customer_partition_bounds(*, shop_id: int, size: int) -> list[list[int]]:
    """[first id, last id] of each partition of the shop's customers, about `size` customers each, equal-sized
    by count (ids may have gaps); [] for a shop without customers. One query (NTILE over the ids)."""
    count = customer_count(shop_id=shop_id)
    if not count:
        return []
    partitions = max(1, math.ceil(count / max(int(size), 1)))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT MIN(id), MAX(id) FROM (SELECT id, NTILE(%s) OVER (ORDER BY id) AS part"
            " FROM behavior_customer WHERE shop_id = %s) t GROUP BY part ORDER BY part",
            [partitions, shop_id],
        )
        return [[int(lo), int(hi)] for lo, hi in cursor.fetchall()]


# ---- what predictions' pages and exports show (provided through predictions.extensions) ---------------

PAGE_RECOMMENDATIONS = 10
PAGE_SIMILAR_TO = 5  # products of the last order
PAGE_SIMILAR_EACH = 3
PAGE_SIMILAR_MAX = 12


# The shop's active build: the newest active one (by created_at, then id). The one rule, written once as SQL
# so that the API's recommendation page reads the build's rows in the same statement.
_ACTIVE_VERSION_SQL = ("SELECT v.id FROM recommendations_recommenderversion v WHERE v.shop_id = %(shop)s"
                       f" AND v.status = '{RecommenderVersion.Status.ACTIVE}'"
                       " ORDER BY v.created_at DESC, v.id DESC LIMIT 1")


def recommender_version_active(*, shop) -> int | None:
    """The id of the shop's active recommender build (None before the first one); `shop`: a Shop or its id.
    The one place that says which build is in use."""
    with connection.cursor() as cursor:
        cursor.execute(_ACTIVE_VERSION_SQL, {"shop": getattr(shop, "pk", shop)})
        row = cursor.fetchone()
    return row[0] if row else None


def customer_recommendations_values(*, shop, customer_id: str) -> SqlRows:
    """The recommendations of the shop's customer `customer_id` (their own id) in the active build, as dicts of
    the columns the API shows (the product's joined in): one statement, empty for an unknown customer or
    before the first build. The caller orders (by `rank`) and pages them."""
    return SqlRows(
        "SELECT r.rank, r.score, r.source, r.reason, p.external_id AS product_external_id,"
        " p.title AS product_title, p.price AS product_price, p.active AS product_active"
        " FROM recommendations_recommendation r"
        " JOIN behavior_customer c ON c.id = r.customer_id"
        " JOIN catalog_product p ON p.id = r.product_id"
        f" WHERE c.shop_id = %(shop)s AND c.external_id = %(customer)s AND r.version_id = ({_ACTIVE_VERSION_SQL})",
        {"shop": shop.pk, "customer": customer_id}, columns={"rank": "r.rank"}, model=Recommendation)


def similar_products_frame(*, shop_id: int, kind: str) -> pd.DataFrame:
    """The active build's similar products of `kind` with the products' own ids: product_id,
    similar_product_id, rank, score (one query; empty before the first build)."""
    version_id = recommender_version_active(shop=shop_id)
    rows = (SimilarProduct.objects.filter(version_id=version_id, kind=kind).order_by("product__external_id", "rank")
            .values_list("product__external_id", "similar__external_id", "rank", "score")) if version_id else []
    return pd.DataFrame(list(rows), columns=["product_id", "similar_product_id", "rank", "score"])


def customer_page_recommendations(shop_id: int, customer_id: int, last_order_id: int | None):
    """The customer page's recommendations (the first 10) and products similar to those of the customer's
    last order (up to 5 of them, 3 each, 12 in all), from the active build; empty before the first build."""
    version_id = recommender_version_active(shop=shop_id)
    if version_id is None:
        return CustomerRecommendations()
    recs = list(Recommendation.objects.filter(version_id=version_id, customer_id=customer_id)
                .select_related("product").order_by("rank")[:PAGE_RECOMMENDATIONS])
    similar = []
    if last_order_id is not None:
        bought = list(OrderLine.objects.filter(order_id=last_order_id).exclude(product=None)
                      .values_list("product_id", flat=True)[:PAGE_SIMILAR_TO])
        similar = list(
            SimilarProduct.objects.filter(version_id=version_id, product_id__in=bought, rank__lte=PAGE_SIMILAR_EACH)
            .select_related("product", "similar").order_by("product_id", "kind", "rank")[:PAGE_SIMILAR_MAX])
    return CustomerRecommendations(recommendations=recs, similar=similar)


def export_top_recommendations(shop_id: int):
    """For a segment export: a reader of {customer id: their top 3 products, best first, each as
    {"product_id", "title", "url", "image_url"}}, bound to the build active when the export starts, so every
    chunk of one file shows the same build."""
    version_id = recommender_version_active(shop=shop_id)

    def read(customer_ids) -> dict[int, list[dict]]:
        recs: dict[int, list[dict]] = {}
        if version_id is None:
            return recs
        for customer_id, external_id, title, url, image_url in (
            Recommendation.objects.filter(version_id=version_id, customer_id__in=customer_ids, rank__lte=3)
            .order_by("customer_id", "rank")
            .values_list("customer_id", "product__external_id", "product__title", "product__url", "product__image_url")
        ):
            recs.setdefault(customer_id, []).append(
                {"product_id": external_id, "title": title or external_id, "url": url, "image_url": image_url})
        return recs

    return read
