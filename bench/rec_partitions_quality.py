"""Quality of the build by customer partitions against one fit over every customer, on a held-out last order
(the split of `evaluate_recommendations`), on a simulated shop or a real one (no database).

    .venv/bin/python bench/rec_partitions_quality.py [--customers 20000] [--products 2000] [--partitions 4]
    .venv/bin/python bench/rec_partitions_quality.py --instacart ../shared/data/instacart_a --partitions 4

Both sides use the same validation fit (weights and TIFU decay, on the training data of every customer, the
ranker off: a build of several partitions does not use it) and the same held-out customers. "whole": every member
fitted on all customers (ml.hybrid.fit_recommenders). "partitioned": the customers split into id ranges, the
shop's statistics and neighbour indexes folded partition by partition (item_knn's neighbours by product blocks, as
the build computes them), each partition listed with
`partition_hybrid` — ALS and the sequential member fitted on the partition's customers only (a sample of the
shop), the other members exact. Prints one JSON line: {"customers", "partitions", "evaluated", "whole": {member:
NDCG@10}, "partitioned": {...}, "same_entry_share"}.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

K = 10


def instacart(folder: Path):
    import pandas as pd

    orders = pd.read_csv(folder / "orders.csv")
    lines = pd.read_csv(folder / "order_lines.csv")
    frame = lines.merge(orders, on="order_id")
    interactions = pd.DataFrame({
        "customer_id": pd.factorize(frame["customer_id"], sort=True)[0].astype("int64") + 1,
        "product_id": pd.factorize(frame["product_id"].astype(str), sort=True)[0].astype("int64") + 1,
        "ts": pd.to_datetime(frame["placed_at"], utc=True), "kind": "purchase",
        "quantity": pd.to_numeric(frame.get("quantity", 1), errors="coerce").fillna(1.0).astype(float),
        "order_id": frame["order_id"].astype(float)})
    n_products = int(interactions["product_id"].max())
    products = pd.DataFrame({"product_id": range(1, n_products + 1), "title": "", "description": "", "category": "",
                             "brand": "", "active": True})
    customers = pd.DataFrame({"customer_id": sorted(interactions["customer_id"].unique())})
    return interactions, products, customers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--products", type=int, default=2_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--instacart", help="a folder with orders.csv and order_lines.csv (instead of simulating)")
    args = parser.parse_args()

    import numpy as np
    import pandas as pd
    import scipy.sparse as sp

    from recommendations.ml.base import exclusion_matrix
    from recommendations.ml.config import RecommenderConfig
    from recommendations.ml.content import content_similarity
    from recommendations.ml.data import build_interaction_data
    from recommendations.ml.evaluate import validation_hybrid
    from recommendations.ml.hybrid import HybridRecommender, fit_recommenders, holdout_targets
    from recommendations.ml.metrics import ranking_metrics
    from recommendations.ml.partitioned import (
        item_similarity_blocks,
        partials_merge,
        partition_hybrid,
        partition_partials,
        partitioned_model,
    )
    from recommendations.ml.split import temporal_split
    from recommendations.ml.synthetic import synthetic_shop
    from recommendations.ml.visual import visual_similarity

    if args.instacart:
        interactions, products, customers = instacart(Path(args.instacart))
    else:
        shop = synthetic_shop(n_customers=args.customers, n_products=args.products, seed=1)
        interactions, products, customers = shop.interactions, shop.products, shop.customers
    products = products.reset_index(drop=True)
    config = replace(RecommenderConfig(workers=1), ranker=False)
    split = temporal_split(interactions, quantile=config.validation_quantile)
    content = content_similarity(products, config)
    visual = visual_similarity(products, None)
    fit = validation_hybrid(split.train, products, customers, k=K, config=config, content_similarity=content,
                            visual_similarity=visual)
    config = fit.tuned_config(config)

    def scores(hybrid, data, exclude, holdout) -> tuple[dict, np.ndarray, sp.csr_matrix, np.ndarray]:
        rows, targets = holdout_targets(data, holdout)
        out = {"hybrid": hybrid.recommend(rows, K, exclude).items}
        for name, member in hybrid.components.items():
            out[name] = member.recommend(rows, K, exclude).items
        return out, rows, targets, data.customer_ids[rows]

    whole = build_interaction_data(split.train, products, customers, config=config, as_of=split.cutoff)
    hybrid = HybridRecommender(config, fit.weights, fit_recommenders(whole, config, content_similarity=content,
                                                                     visual_similarity=visual)).fit(whole)
    w_items, _, w_targets, w_ids = scores(hybrid, whole, exclusion_matrix(whole, config), split.holdout)
    whole_items = {name: np.where(items >= 0, whole.product_ids[np.maximum(items, 0)], -1)
                   for name, items in w_items.items()}

    ids = np.sort(customers["customer_id"].to_numpy())
    parts = [part for part in np.array_split(ids, args.partitions) if len(part)]
    train = split.train

    def partition(part):
        mine = train[train["customer_id"].between(part[0], part[-1])]
        return build_interaction_data(mine, products, pd.DataFrame({"customer_id": part}), config=config,
                                      as_of=split.cutoff)

    merged, weights = None, []
    for part in parts:  # as the build's statistics pass: no Gram matrix, item_knn's neighbours by product blocks
        data = partition(part)
        partial = partition_partials(data, config, tifu=len(ids) <= config.tifu_neighbours_max_customers, gram=False)
        weights.append(data.weights)
        merged = partial if merged is None else partials_merge([merged, partial], config)
    similarity = item_similarity_blocks(weights, merged.stats.sq_norms, config)
    model = partitioned_model(merged, config, content=content, visual=visual, similarity=similarity)
    got: dict[str, list] = {}
    got_ids = []
    for part in parts:
        data = partition(part)
        fitted = partition_hybrid(data, model, config, weights=fit.weights)
        holdout = split.holdout[split.holdout["customer_id"].between(part[0], part[-1])]
        items, _, _, customer_ids = scores(fitted.hybrid, data, fitted.exclude, holdout)
        for name, value in items.items():
            got.setdefault(name, []).append(np.where(value >= 0, data.product_ids[np.maximum(value, 0)], -1))
        got_ids.append(customer_ids)
    order = np.argsort(np.concatenate(got_ids), kind="stable")
    # targets in the whole fit's columns, rows in the whole fit's order (both sorted by customer id here)
    assert np.array_equal(np.concatenate(got_ids)[order], np.sort(w_ids))
    w_order = np.argsort(w_ids, kind="stable")
    w_targets = w_targets[w_order]
    result = {"whole": {}, "partitioned": {}}
    for name in w_items:
        want = whole_items[name][w_order]
        mine = np.vstack(got[name])[order]
        # metrics in the whole fit's product positions
        position = pd.Index(whole.product_ids)
        result["whole"][name] = round(ranking_metrics(w_items[name][w_order], w_targets).ndcg, 6)
        mapped = np.where(mine >= 0, position.get_indexer(mine.ravel()).reshape(mine.shape), -1)
        result["partitioned"][name] = round(ranking_metrics(mapped, w_targets).ndcg, 6)
        if name == "hybrid":
            result["same_entry_share"] = round(float((want == mine).mean()), 6)
    print(json.dumps({"customers": len(ids), "partitions": len(parts), "evaluated": len(w_ids),
                      "choice": fit.choice, **result}))


if __name__ == "__main__":
    main()
