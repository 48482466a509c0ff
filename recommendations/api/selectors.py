"""The recommendations endpoint's hot read: one SQL statement per call.

Deliberately SQL (see CONVENTIONS: "bulk paths may use SQL deliberately, in one place, tested"): the
equivalent ORM queryset costs more to build and compile (about 1 ms) than PostgreSQL takes to answer it.
tests/api/test_endpoints.py checks this path and the ORM one give the same pages. The price comes as a
float (the renderer writes a Decimal as its float anyway, through a slower fallback)."""

from __future__ import annotations

from accounts.models import Shop
from behavior.models import Customer
from catalog.models import Product
from ecomsight.db import fetch_prepared
from recommendations.models import Recommendation, RecommenderVersion

_SQL = f"""
SELECT r.rank, r.score, r.source, r.reason, p.external_id, p.title, p.price::float8, p.active
FROM {Customer._meta.db_table} c
JOIN {Recommendation._meta.db_table} r ON r.customer_id = c.id
JOIN {Product._meta.db_table} p ON p.id = r.product_id
WHERE c.shop_id = %(shop)s AND c.external_id = %(customer)s
  AND r.version_id = (SELECT v.id FROM {RecommenderVersion._meta.db_table} v
                      WHERE v.shop_id = %(shop)s AND v.status = %(active)s
                      ORDER BY v.created_at DESC, v.id DESC LIMIT 1)
ORDER BY r.rank
LIMIT %(limit)s
"""


def customer_recommendation_rows(*, shop: Shop, customer_id: str, limit: int) -> list[dict]:
    """The first `limit` recommendations of the shop's customer `customer_id` (their own id) in the active
    build, best first, in the API's row shape (RecommendationOutputSerializer's). Empty for an unknown
    customer, a customer without recommendations, or a shop without an active build."""
    _, fetched = fetch_prepared(_SQL, {"shop": shop.pk, "customer": customer_id,
                                       "active": str(RecommenderVersion.Status.ACTIVE), "limit": limit})
    return [{"rank": rank, "product": {"id": external_id, "title": title, "price": price, "active": active},
             "score": score, "source": source, "reason": reason}
            for rank, score, source, reason, external_id, title, price, active in fetched]
