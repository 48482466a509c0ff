"""Build everything a shop needs: top-k per customer with source and reason, similar products, weights.

`build_all` fits every member on every customer in one process: the reference that a build by customer
partitions (partitioned.py, recommendations.services.build) equals for a shop of one partition, and what the
ml tests and benches fit. The lists' machinery below (`recommend_all`, `recommendations_frame`) serves both.

Speed (200k customers, 20k products, 5M interactions on 2 cores): the catalogue's TF-IDF similarity is fitted
once and shared by the validation fit and the final fit; the customer lists are computed in independent blocks
on `config.workers` forked processes (the fitted model is shared copy-on-write, nothing big is pickled); a block
returns small arrays (product positions, scores, source index, reason code) and the reason words are formatted
once per distinct reason, not once per row.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .base import exclusion_matrix
from .config import RecommenderConfig
from .content import content_similarity
from .data import InteractionData, build_interaction_data
from .evaluate import validation_hybrid
from .hybrid import CodedTopK, HybridRecommender, fit_recommenders
from .similar import similar_products_frame
from .visual import visual_similarity

# customers per task handed to a worker: big enough to amortise the hand-over, small enough for steady progress
CHUNK_CUSTOMERS = 10_000


@dataclass(frozen=True)
class BuildResult:
    """recommendations: customer_id, product_id, rank (1..k), score, source, reason (source and reason are
    categoricals). similar: product_id, similar_id, kind ("also_bought" / "content"), rank, score.
    weights: the hybrid's. timings: seconds per stage. choice, tuned, ranker: what a later `hybrid_fit` needs to
    list products the same way for a subset of customers."""

    recommendations: pd.DataFrame
    similar: pd.DataFrame
    weights: dict[str, float]
    timings: dict[str, float] = field(default_factory=dict)
    choice: str = "blend"  # what validation chose: "ranker", "blend" or one member's name (evaluate.HybridFit)
    tuned: dict[str, float] = field(default_factory=dict)  # settings tuned on validation (TIFU-KNN's decay)
    ranker: object | None = None  # the LightGBM lambdarank booster when `choice` is "ranker"


def build_all(
    interactions: pd.DataFrame,
    products: pd.DataFrame,
    customers: pd.DataFrame,
    *,
    k: int = 20,
    config: RecommenderConfig,
    as_of: pd.Timestamp | None = None,
    progress: Callable[[str], None] | None = None,
    visual_pairs: pd.DataFrame | None = None,
) -> BuildResult:
    """Fit weights on a validation split, refit on all data, and produce every list (the caller writes them).

    Customers without history get popular products; lists can be shorter than k when too little is allowed.
    `visual_pairs` (product_id, similar_id, score: the pictures' neighbours) feed the visual source.
    """
    say = progress or (lambda message: None)
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    if as_of is not None:
        interactions = interactions[interactions["ts"] <= as_of]
    if not isinstance(interactions["kind"].dtype, pd.CategoricalDtype):
        # the kind column is read by both fits: one categorical instead of hashing 5M strings twice
        interactions = interactions.assign(kind=interactions["kind"].astype("category"))
    products = products.reset_index(drop=True)
    content = content_similarity(products, config)
    visual = visual_similarity(products, visual_pairs)
    timings["content"] = time.perf_counter() - clock

    clock = time.perf_counter()
    say("fitting hybrid weights on the validation split")
    fit = validation_hybrid(interactions, products, customers, k=min(k, 10), config=config,
                            content_similarity=content, visual_similarity=visual)
    weights = fit.weights
    timings["weights"] = time.perf_counter() - clock

    clock = time.perf_counter()
    say("fitting recommenders on all data")
    config = fit.tuned_config(config)
    fitted = hybrid_fit(interactions, products, customers, config=config, weights=weights, ranker=fit.ranker,
                        as_of=as_of, content=content, visual=visual)
    data, hybrid, exclude, components = fitted.data, fitted.hybrid, fitted.exclude, fitted.hybrid.components
    timings["fit"] = time.perf_counter() - clock

    clock = time.perf_counter()
    rows = data.customer_positions(customers["customer_id"].to_numpy())
    coded = recommend_all(hybrid, rows, k, exclude, workers=config.workers, progress=say)
    timings["recommend"] = time.perf_counter() - clock

    clock = time.perf_counter()
    recommendations = recommendations_frame(hybrid, rows, coded)
    timings["frame"] = time.perf_counter() - clock

    clock = time.perf_counter()
    similar = similar_products_frame(
        data, also_bought=components["item_knn"].similarity, content=components["content"].similarity,
        k=config.similar_k,
    )
    timings["similar"] = time.perf_counter() - clock
    return BuildResult(recommendations, similar, weights, timings, choice=fit.choice, tuned=dict(fit.tuned),
                       ranker=fit.ranker)


@dataclass(frozen=True)
class FittedHybrid:
    """The hybrid fitted on a shop's interactions, ready to list products for any of its customers: the data it
    was fitted on, and the customers x products 0/1 matrix of what may not be shown again (bought, no re-buy)."""

    data: InteractionData
    hybrid: HybridRecommender
    exclude: sp.csr_matrix


def hybrid_fit(
    interactions: pd.DataFrame,
    products: pd.DataFrame,
    customers: pd.DataFrame,
    *,
    config: RecommenderConfig,
    weights: dict[str, float],
    ranker=None,
    as_of: pd.Timestamp | None = None,
    content: sp.csr_matrix | None = None,
    visual: sp.csr_matrix | None = None,
    visual_pairs: pd.DataFrame | None = None,
) -> FittedHybrid:
    """Every member fitted on all of `interactions` and blended with `weights` (or ordered by `ranker`): what a
    build does after its validation split, so a build's choices (`config` with its tuned settings, weights,
    ranker) give the same lists again. `content` / `visual` (similarities of `products`) are computed here when
    not given (`visual` from `visual_pairs`)."""
    if not isinstance(interactions["kind"].dtype, pd.CategoricalDtype):
        interactions = interactions.assign(kind=interactions["kind"].astype("category"))
    products = products.reset_index(drop=True)
    if content is None:
        content = content_similarity(products, config)
    if visual is None:
        visual = visual_similarity(products, visual_pairs)
    data = build_interaction_data(interactions, products, customers, config=config, as_of=as_of)
    components = fit_recommenders(data, config, content_similarity=content, visual_similarity=visual)
    hybrid = HybridRecommender(config, weights, components, ranker=ranker).fit(data)
    return FittedHybrid(data=data, hybrid=hybrid, exclude=exclusion_matrix(data, config))


def customer_lists(fitted: FittedHybrid, customer_ids: np.ndarray, *, k: int) -> pd.DataFrame:
    """Top-k of these customers (ids; those the fitted data does not know are skipped) with source and reason,
    as a build writes them (`recommendations_frame`'s columns). The same list code as a build, over a subset."""
    rows = fitted.data.customer_positions(np.asarray(customer_ids, dtype=np.int64))
    rows = rows[rows >= 0]
    coded = fitted.hybrid.recommend_coded(rows, k, fitted.exclude)
    return recommendations_frame(fitted.hybrid, rows, coded)


def recommendations_frame(hybrid: HybridRecommender, rows: np.ndarray, coded: CodedTopK) -> pd.DataFrame:
    """One row per (customer, rank); source and reason as categoricals whose words are formatted once each."""
    data = hybrid.data
    local, rank = np.nonzero(coded.items >= 0)
    sources = coded.sources[local, rank].astype(np.int64)
    reasons = coded.reasons[local, rank]
    # one integer per (source, reason code): the distinct ones are few (products x verbs, categories, cycles)
    key = reasons * len(coded.names) + sources
    unique, inverse = np.unique(key, return_inverse=True)
    words = np.empty(len(unique), dtype=object)
    for index, name in enumerate(coded.names):
        pick = unique % len(coded.names) == index
        words[pick] = hybrid.components[name].reason_texts(unique[pick] // len(coded.names))
    # different codes can read the same (a product label shared by two products): categories must be unique
    categories, remap = np.unique(words.astype(str), return_inverse=True)
    return pd.DataFrame(
        {
            "customer_id": data.customer_ids[rows[local]],
            "product_id": data.product_ids[coded.items[local, rank]],
            "rank": (rank + 1).astype(np.int16),
            "score": coded.scores[local, rank].astype(np.float32),
            "source": pd.Categorical.from_codes(sources, categories=list(coded.names)) if len(coded.names)
            else pd.Categorical([]),
            "reason": pd.Categorical.from_codes(remap[inverse], categories=categories),
        }
    )


# The fitted model for forked workers: set just before the pool starts, inherited copy-on-write.
_SHARED: dict = {}


def _recommend_chunk(bounds: tuple[int, int]) -> CodedTopK:
    rows = _SHARED["rows"][bounds[0] : bounds[1]]
    return _SHARED["hybrid"].recommend_coded(rows, _SHARED["k"], _SHARED["exclude"])


def recommend_all(
    hybrid: HybridRecommender,
    rows: np.ndarray,
    k: int,
    exclude: sp.csr_matrix | None,
    *,
    workers: int,
    progress: Callable[[str], None] | None = None,
    chunk: int = CHUNK_CUSTOMERS,
) -> CodedTopK:
    """`hybrid.recommend_coded` for every row, in chunks, on `workers` forked processes when that can help.

    Falls back to this process when there is one worker, little work, no `fork` (Windows, macOS spawn
    defaults are avoided on purpose: they would pickle the model) or when this process is itself a daemon
    (a Celery prefork child may not start children)."""
    say = progress or (lambda message: None)
    rows = np.asarray(rows, dtype=np.int64)
    chunks = [(start, min(start + chunk, len(rows))) for start in range(0, len(rows), chunk)]
    workers = min(max(int(workers), 1), len(chunks), os.cpu_count() or 1)
    parallel = workers > 1 and _can_fork()
    parts: list[CodedTopK] = []
    if parallel:
        _SHARED.update(hybrid=hybrid, rows=rows, k=k, exclude=exclude)
        try:
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                for part in pool.imap(_recommend_chunk, chunks):
                    parts.append(part)
                    say(f"recommended for {sum(len(p.items) for p in parts)} of {len(rows)} customers")
        finally:
            _SHARED.clear()
    else:
        for bounds in chunks:
            parts.append(hybrid.recommend_coded(rows[bounds[0] : bounds[1]], k, exclude))
            say(f"recommended for {bounds[1]} of {len(rows)} customers")
    if not parts:
        return hybrid.recommend_coded(rows, k, exclude)
    return CodedTopK(*(np.vstack([getattr(p, f) for p in parts]) for f in ("items", "scores", "sources", "reasons")),
                     parts[0].names)


def _can_fork() -> bool:
    if "fork" not in multiprocessing.get_all_start_methods():
        return False
    return not multiprocessing.current_process().daemon
