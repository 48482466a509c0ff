"""Build everything a shop needs: top-k per customer with source and reason, similar products, weights."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .base import exclusion_matrix
from .config import RecommenderConfig
from .data import build_interaction_data
from .evaluate import validation_weights
from .hybrid import HybridRecommender, fit_recommenders
from .similar import similar_products_frame


@dataclass(frozen=True)
class BuildResult:
    """recommendations: customer_id, product_id, rank (1..k), score, source, reason.
    similar: product_id, similar_id, kind ("also_bought" / "content"), rank, score. weights: the hybrid's."""

    recommendations: pd.DataFrame
    similar: pd.DataFrame
    weights: dict[str, float]
    timings: dict[str, float] = field(default_factory=dict)


def build_all(
    interactions: pd.DataFrame,
    products: pd.DataFrame,
    customers: pd.DataFrame,
    *,
    k: int = 20,
    config: RecommenderConfig,
    as_of: pd.Timestamp | None = None,
    progress: Callable[[str], None] | None = None,
) -> BuildResult:
    """Fit weights on a validation split, refit on all data, and produce every list (the caller writes them).

    Customers without history get popular products; lists can be shorter than k when too little is allowed.
    """
    say = progress or (lambda message: None)
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    if as_of is not None:
        interactions = interactions[interactions["ts"] <= as_of]

    say("fitting hybrid weights on the validation split")
    weights = validation_weights(interactions, products, customers, k=min(k, 10), config=config)
    timings["weights"] = time.perf_counter() - clock

    clock = time.perf_counter()
    say("fitting recommenders on all data")
    data = build_interaction_data(interactions, products, customers, config=config, as_of=as_of)
    components = fit_recommenders(data, config)
    hybrid = HybridRecommender(config, weights, components).fit(data)
    exclude = exclusion_matrix(data, config)
    timings["fit"] = time.perf_counter() - clock

    clock = time.perf_counter()
    rows = data.customer_positions(customers["customer_id"].to_numpy())
    frames = []
    step = config.block_size * 10
    for start in range(0, len(rows), step):
        chunk = rows[start : start + step]
        top = hybrid.recommend_explained(chunk, k, exclude)
        local, rank = np.nonzero(top.items >= 0)
        frames.append(
            pd.DataFrame(
                {
                    "customer_id": data.customer_ids[chunk[local]],
                    "product_id": data.product_ids[top.items[local, rank]],
                    "rank": (rank + 1).astype(np.int16),
                    "score": top.scores[local, rank].astype(np.float32),
                    "source": top.sources[local, rank],
                    "reason": top.reasons[local, rank],
                }
            )
        )
        say(f"recommended for {min(start + step, len(rows))} of {len(rows)} customers")
    columns = ["customer_id", "product_id", "rank", "score", "source", "reason"]
    recommendations = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    timings["recommend"] = time.perf_counter() - clock

    clock = time.perf_counter()
    similar = similar_products_frame(
        data, also_bought=components["item_knn"].similarity, content=components["content"].similarity,
        k=config.similar_k,
    )
    timings["similar"] = time.perf_counter() - clock
    return BuildResult(recommendations, similar, weights, timings)
