"""Offline evaluation of the recommenders, and the similar-products export."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from accounts.models import Shop
from catalog.selectors import visual_neighbours_frame
from ecomsight.errors import UserError

from ..ml.evaluate import evaluate_recommenders
from ..selectors import recommender_frames, similar_products_frame
from .build import recommender_config


def recommendations_evaluate(*, shop: Shop, k: int = 10, data_report: bool = False,
                             progress: Callable[[str], None] | None = None) -> dict:
    """Hold out each customer's last order; metrics@k of every recommender and the hybrid, side by side.

    `data_report`: add the held-out data's shape (share of test products the customer bought before, share
    never seen in training)."""
    if progress is not None:
        progress("reading the shop's order lines and events")
    frames = recommender_frames(shop_id=shop.pk)
    if not (frames.interactions["kind"] == "purchase").any():
        raise UserError(f"Shop '{shop.slug}' has no order lines, so there is nothing to evaluate: recommendations "
                        "learn which products customers bought. Import them first: import_data order_lines FILE "
                        "(order_id, product_id, quantity).")
    result = evaluate_recommenders(frames.interactions, frames.products, frames.customers, k=k,
                                   config=recommender_config(shop=shop), visual_pairs=frames.visual,
                                   progress=progress)
    report = result.to_dict()
    if not report.get("customers"):
        raise UserError(f"No customer of shop '{shop.slug}' has an order to hold out after an earlier one: the "
                        "evaluation hides each customer's last order and asks what their earlier orders predict, "
                        "so it needs customers with at least two orders with order lines.")
    # Members that recommended nothing to anyone (content without titles or categories, visual without pictures):
    # their zeros are no measurement, and their weight in the blend changes nothing (an outside analyst).
    report["members_without_recommendations"] = [
        name for name, m in report.items() if isinstance(m, dict) and m.get("coverage") == 0 and "ndcg" in m]
    report["weights"] = {name: float(w) for name, w in result.weights.items()}
    report["hybrid_choice"] = result.hybrid_choice
    report["validation_ndcg"] = {name: round(float(v), 6) for name, v in result.validation.items()}
    if data_report:
        report["data_report"] = result.data_report
    if result.cutoff is not None:
        report["holdout_after"] = pd.Timestamp(result.cutoff).isoformat()
    return report


SIMILAR_EXPORT_COLUMNS = ["product_id", "similar_product_id", "rank", "score", "kind"]


def similar_products_export(*, shop: Shop, kind: str, path, scope: str = "overall") -> int:
    """Write the shop's similar products of `kind` to a CSV file (SIMILAR_EXPORT_COLUMNS, products by their own
    ids, ordered by product and rank); returns the rows written. `visual` reads the catalogue's visual
    neighbours (of `scope`), the other kinds the active recommender build (none before the first build)."""
    if kind == "visual":
        frame = visual_neighbours_frame(shop_id=shop.pk, scope=scope)
    else:
        frame = similar_products_frame(shop_id=shop.pk, kind=kind)
    frame = frame.assign(kind=kind)[SIMILAR_EXPORT_COLUMNS]
    frame["score"] = frame["score"].astype(float).round(6)
    try:
        frame.to_csv(path, index=False)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}", field="out") from exc
    return len(frame)
