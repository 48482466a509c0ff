"""Memory of the recommenders fitted by customer partitions (recommendations/ml/partitioned.py) against one fit
over every customer, on a simulated shop (no database: this measures the ml layer, not the Celery build).

    .venv/bin/python bench/rec_partitions.py [--customers 50000] [--products 5000] [--partitions 4]

Simulates the shop once and stores each partition's interactions (customer id modulo P) in a file; then, each in
a fresh process so peak memory is its own:

- "whole": reads every partition, fits the partitioned members (popularity, repurchase, item_knn, user_knn,
  content, visual, personal frequency, TIFU-KNN) on all customers and lists top-20 for everyone;
- "partitioned": one pass over the partitions accumulating the item-side statistics and neighbour indexes
  (each partition read, summed, dropped), then each partition's members and lists in turn, as one worker would
  process partition after partition.

Both use the same fixed weights (no validation fit, no ALS, no ranker: those are not partitioned yet). Checks
that the lists are identical, prints one JSON line: {"customers", "interactions", "partitions",
"whole_peak_rss_mb", "partitioned_peak_rss_mb", "baseline_rss_mb" (what both hold before reading a customer:
libraries, catalogue, text similarity), "whole_seconds", "partitioned_seconds", "lists_identical",
"same_entry_share" (share of (customer, rank) places holding the same product), "same_set_share" (share of
customers with the same set of products)}.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

K = 20
WEIGHTS = {"popularity": 0.5, "repurchase": 1.0, "item_knn": 1.0, "user_knn": 1.0, "content": 0.25, "visual": 0.0,
           "personal_frequency": 1.0, "tifu_knn": 2.0}


def simulate(folder: Path, customers: int, products: int, partitions: int) -> int:
    import numpy as np

    from recommendations.ml.synthetic import synthetic_shop

    shop = synthetic_shop(n_customers=customers, n_products=products, orders_per_customer=2.5,
                          views_per_purchase=0.8, consumer_share=0.3, seed=3)
    shop.products.to_pickle(folder / "products.pkl")
    ids = shop.customers["customer_id"].to_numpy()
    inter = shop.interactions
    as_of = inter["ts"].max()
    (folder / "as_of").write_text(as_of.isoformat())
    for part in range(partitions):
        mine = np.sort(ids[ids % partitions == part])
        inter[inter["customer_id"].isin(mine)].to_pickle(folder / f"inter_{part}.pkl")
        np.save(folder / f"customers_{part}.npy", mine)
    return len(inter)


def run(folder: Path, mode: str, partitions: int) -> dict:
    import numpy as np
    import pandas as pd

    from recommendations.ml.base import exclusion_matrix
    from recommendations.ml.config import RecommenderConfig
    from recommendations.ml.content import content_similarity
    from recommendations.ml.data import build_interaction_data
    from recommendations.ml.hybrid import RECOMMENDER_CLASSES, HybridRecommender
    from recommendations.ml.partitioned import (
        PARTITIONED_MEMBERS,
        item_similarity,
        item_statistics_merge,
        item_statistics_partial,
        neighbour_index_merge,
        partition_components,
        tifu_index_partial,
        user_index_partial,
    )

    config = RecommenderConfig()
    products = pd.read_pickle(folder / "products.pkl")
    as_of = pd.Timestamp((folder / "as_of").read_text())
    content = content_similarity(products.reset_index(drop=True), config)
    # what both modes hold before any customer is read: libraries, the catalogue, its text similarity
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()

    def partition(part: int):
        ids = np.load(folder / f"customers_{part}.npy")
        return build_interaction_data(pd.read_pickle(folder / f"inter_{part}.pkl"), products,
                                      pd.DataFrame({"customer_id": ids}), config=config, as_of=as_of)

    lists = {}
    if mode == "whole":
        ids = np.sort(np.concatenate([np.load(folder / f"customers_{p}.npy") for p in range(partitions)]))
        inter = pd.concat([pd.read_pickle(folder / f"inter_{p}.pkl") for p in range(partitions)], ignore_index=True)
        data = build_interaction_data(inter, products, pd.DataFrame({"customer_id": ids}), config=config,
                                      as_of=as_of)
        del inter
        members = {}
        for name in PARTITIONED_MEMBERS:
            member = RECOMMENDER_CLASSES[name](config)
            members[name] = member.fit(data, similarity=content) if name == "content" else member.fit(data)
        if data.n_customers > config.tifu_neighbours_max_customers:
            members["tifu_knn"].neighbours = False
        hybrid = HybridRecommender(config, WEIGHTS, members).fit(data)
        top = hybrid.recommend_coded(np.arange(data.n_customers), K, exclusion_matrix(data, config))
        for part in range(partitions):
            mine = np.flatnonzero(data.customer_ids % partitions == part)
            lists[part] = data.product_ids[top.items[mine]] * (top.items[mine] >= 0)
    else:
        # folded as they come: one partial beside the running sums, never every partition's at once
        merged = users = tifu = None
        for part in range(partitions):
            data = partition(part)
            partial = [item_statistics_partial(data, config), user_index_partial(data, config),
                       tifu_index_partial(data, config)]
            del data
            if merged is None:
                merged, users, tifu = partial
            else:
                merged = item_statistics_merge([merged, partial[0]])
                users = neighbour_index_merge([users, partial[1]], cap=config.user_posting_cap)
                tifu = neighbour_index_merge([tifu, partial[2]], cap=config.user_posting_cap * 2)
            del partial
        if merged.customers > config.tifu_neighbours_max_customers:
            tifu = None
        similarity = item_similarity(merged, config)
        for part in range(partitions):
            data = partition(part)
            members = partition_components(data, merged, config, content_similarity=content, similarity=similarity,
                                           users=users, tifu=tifu)
            hybrid = HybridRecommender(config, WEIGHTS, members).fit(data)
            top = hybrid.recommend_coded(np.arange(data.n_customers), K, exclusion_matrix(data, config))
            lists[part] = data.product_ids[top.items] * (top.items >= 0)
            del data, members, hybrid
    np.savez(folder / f"lists_{mode}.npz", **{str(p): v for p, v in lists.items()})
    return {"seconds": round(time.perf_counter() - started, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "baseline_rss_mb": round(baseline, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--products", type=int, default=5_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--mode", choices=["whole", "partitioned"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:  # a child: one measurement in its own process
        print(json.dumps(run(Path(args.folder), args.mode, args.partitions)))
        return
    import numpy as np

    with tempfile.TemporaryDirectory(prefix="rec_partitions_") as tmp:
        folder = Path(tmp)
        interactions = simulate(folder, args.customers, args.products, args.partitions)
        figures = {}
        for mode in ("whole", "partitioned"):
            out = subprocess.run([sys.executable, __file__, "--mode", mode, "--folder", tmp,
                                  "--partitions", str(args.partitions)], capture_output=True, text=True,
                                 env={**os.environ, "OPENBLAS_NUM_THREADS": "1"}, check=True)
            figures[mode] = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"[rec_partitions] {mode}: {figures[mode]}", file=sys.stderr, flush=True)
        whole, parts = np.load(folder / "lists_whole.npz"), np.load(folder / "lists_partitioned.npz")
        same = [(whole[key] == parts[key]).sum() for key in whole.files]
        identical = all(np.array_equal(whole[key], parts[key]) for key in whole.files)
        same_share = float(sum(same)) / sum(whole[key].size for key in whole.files)
        # customers whose whole list is the same set of products (a swap of two near-tied neighbours counts)
        same_sets = np.mean(np.concatenate([[set(a) == set(b) for a, b in zip(whole[key], parts[key], strict=True)]
                                            for key in whole.files]))
    print(json.dumps({"customers": args.customers, "interactions": interactions, "partitions": args.partitions,
                      "whole_peak_rss_mb": figures["whole"]["peak_rss_mb"],
                      "partitioned_peak_rss_mb": figures["partitioned"]["peak_rss_mb"],
                      "baseline_rss_mb": figures["whole"]["baseline_rss_mb"],
                      "whole_seconds": figures["whole"]["seconds"],
                      "partitioned_seconds": figures["partitioned"]["seconds"], "lists_identical": identical,
                      "same_entry_share": round(same_share, 6), "same_set_share": round(float(same_sets), 6)}))


if __name__ == "__main__":
    main()
