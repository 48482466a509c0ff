"""Tiny hand-made shops for the recommender tests."""

from __future__ import annotations

import pandas as pd

AS_OF = pd.Timestamp("2025-06-01", tz="UTC")


def day(n: float) -> pd.Timestamp:
    """`n` days before AS_OF."""
    return AS_OF - pd.Timedelta(days=n)


def interactions(rows: list[tuple]) -> pd.DataFrame:
    """rows: (customer_id, product_id, days_ago, kind[, order_id])."""
    records = []
    for row in rows:
        customer, product, ago, kind = row[:4]
        order = row[4] if len(row) > 4 else (hash((customer, ago)) % 10**9 if kind == "purchase" else None)
        records.append({"customer_id": customer, "product_id": product, "ts": day(ago), "kind": kind,
                        "quantity": 1.0, "order_id": order})
    frame = pd.DataFrame(records)
    frame["order_id"] = frame["order_id"].astype("Float64")
    return frame


def products(ids, *, categories=None, titles=None, active=None, brands=None) -> pd.DataFrame:
    ids = list(ids)
    return pd.DataFrame({
        "product_id": ids,
        "title": titles if titles is not None else [f"Product {i}" for i in ids],
        "description": "",
        "category": categories if categories is not None else "Shop",
        "brand": brands if brands is not None else "",
        "active": active if active is not None else True,
        "created_at": pd.NaT,
    })


def customers(ids) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": list(ids)})
