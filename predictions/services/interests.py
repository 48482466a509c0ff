"""The interest profile's bridge: frames of a scoring chunk (or of re-scored customers) -> predictions.ml.interests
-> CustomerInterest rows, written in bulk beside the scores, inside the caller's transaction."""

from __future__ import annotations

import pandas as pd

from ecomsight.db import bulk_insert_frame

from ..ml.base import ShopFrames
from ..ml.interests import InterestConfig, interest_profile
from ..models import CustomerInterest, ScoringRun
from ..selectors.frames import interest_catalogue

INTEREST_TABLE = CustomerInterest._meta.db_table


def customer_interests_compute(*, shop_id: int, frames: ShopFrames, cutoff: pd.Timestamp) -> pd.DataFrame:
    """The profile rows (predictions.ml.interests.PROFILE_COLUMNS) of the customers in `frames`: two small reads
    of the shop's catalogue (products' category and brand, the category tree), then pure code. Empty for shops
    whose products have neither."""
    catalogue = interest_catalogue(shop_id=shop_id)
    if catalogue.products.empty:
        return interest_profile(order_lines=frames.order_lines.iloc[0:0], events=frames.events.iloc[0:0],
                                products=catalogue.products, category_parents={}, cutoff=cutoff)
    return interest_profile(order_lines=frames.order_lines, events=frames.events, products=catalogue.products,
                            category_parents=catalogue.category_parents, cutoff=cutoff, config=InterestConfig())


def customer_interests_replace(*, run: ScoringRun, profile: pd.DataFrame,
                               customer_range: tuple[int, int] | None = None,
                               customer_ids: list[int] | None = None) -> int:
    """Replace the run's profile rows of a chunk's customers (an id range) or of some customers with `profile`:
    one DELETE and one COPY, so a chunk that runs twice overwrites, never duplicates. Call inside the
    transaction that writes the same customers' scores. Returns the rows written."""
    rows = CustomerInterest.objects.filter(scoring_run_id=run.pk)
    if customer_range is not None:
        rows = rows.filter(customer_id__gte=customer_range[0], customer_id__lte=customer_range[1])
    if customer_ids is not None:
        rows = rows.filter(customer_id__in=customer_ids)
    rows.delete()  # nothing refers to these rows: Django deletes them in one statement
    if profile.empty:
        return 0
    # One COPY per kind, each with only its own columns (the other takes its default: NULL category, "" brand):
    # rendering a nullable integer column and an empty text column to CSV for every row cost more than the COPY.
    written = 0
    for kind, key in ((CustomerInterest.Kind.CATEGORY, "category_id"), (CustomerInterest.Kind.BRAND, "brand")):
        part = profile[profile["kind"] == kind]
        if part.empty:
            continue
        written += bulk_insert_frame(INTEREST_TABLE, pd.DataFrame({
            "shop_id": run.shop_id, "scoring_run_id": run.pk, "customer_id": part["customer_id"].to_numpy(),
            "kind": kind.value, key: part[key].to_numpy(dtype="int64" if key == "category_id" else object),
            "share": part["share"].to_numpy()}))
    return written
