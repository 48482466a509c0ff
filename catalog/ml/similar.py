"""Visual neighbours (per category and overall) and duplicate-picture groups.

Neighbours: exact cosine top-k over L2-normalised embeddings, in blocks of rows (a catalogue of 50,000
pictures x 1,280 dimensions is 0.25 GB of float32; each block's scores are ~block x n floats), so no
approximate index is needed at catalogue sizes.

Duplicates: two pictures are the same picture when both their trimmed pHash and dHash are within a few bits
(defaults: 10 and 12 of 64; re-encoding, resizing, brightening and light crops move them by 0-8 bits,
different photographs sit ~32 apart) — or when their bytes are identical. Groups are the connected
components of that relation (union-find), so A~B and B~C put A, B and C together.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .images import hamming

NEIGHBOUR_COLUMNS = ["product_id", "similar_id", "scope", "rank", "score"]


@dataclass(frozen=True)
class NeighbourConfig:
    """`k` neighbours per product and scope ("overall", "category"); `min_score`: cosine below this is dropped."""

    k: int = 20
    min_score: float = 0.0
    block: int = 2048


def _topk_block(query: np.ndarray, base: np.ndarray, self_offset: int | None, k: int):
    scores = query @ base.T
    if self_offset is not None:
        rows = np.arange(len(query))
        scores[rows, rows + self_offset] = -np.inf
    k = min(k, base.shape[0] - (1 if self_offset is not None else 0))
    if k <= 0:
        return np.zeros((len(query), 0), np.int64), np.zeros((len(query), 0), np.float32)
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(part_scores, order, axis=1)


def nearest_neighbours(vectors: np.ndarray, *, k: int, block: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Each row's k most similar other rows (by dot product): (indices, scores), both (n, k'), best first."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n = len(vectors)
    items, scores = [], []
    for start in range(0, n, block):
        idx, sc = _topk_block(vectors[start:start + block], vectors, start, k)
        items.append(idx)
        scores.append(sc)
    if not items:
        return np.zeros((0, 0), np.int64), np.zeros((0, 0), np.float32)
    return np.vstack(items), np.vstack(scores).astype(np.float32)


def _rows(product_ids: np.ndarray, local: np.ndarray, idx: np.ndarray, sc: np.ndarray, scope: str,
          config: NeighbourConfig) -> pd.DataFrame:
    src, rank = np.nonzero(np.isfinite(sc) & (sc >= config.min_score))
    frame = pd.DataFrame({"product_id": product_ids[local[src]], "similar_id": product_ids[local[idx[src, rank]]],
                          "scope": scope, "score": sc[src, rank].astype(np.float32)})
    # ranks restart at 1 per product after dropping low scores
    frame["rank"] = (frame.groupby("product_id").cumcount() + 1).astype(np.int16)
    return frame[NEIGHBOUR_COLUMNS]


def visual_neighbours_frame(embeddings: pd.DataFrame, vectors: np.ndarray, *,
                            config: NeighbourConfig | None = None) -> pd.DataFrame:
    """Visual neighbours of every product with a picture, overall and within its category.

    `embeddings`: one row per picture, columns product_id and category ("" for none), aligned with
    `vectors` (L2-normalised). Returns rows (product_id, similar_id, scope, rank, score), ranks from 1."""
    config = config or NeighbourConfig()
    product_ids = embeddings["product_id"].to_numpy()
    if len(product_ids) < 2:
        return pd.DataFrame(columns=NEIGHBOUR_COLUMNS)
    everyone = np.arange(len(product_ids))
    idx, sc = nearest_neighbours(vectors, k=config.k, block=config.block)
    frames = [_rows(product_ids, everyone, idx, sc, "overall", config)]
    categories = embeddings["category"].fillna("").astype(str).to_numpy()
    for category in np.unique(categories):
        if not category:
            continue
        local = np.flatnonzero(categories == category)
        if len(local) < 2:
            continue
        idx, sc = nearest_neighbours(vectors[local], k=config.k, block=config.block)
        frames.append(_rows(product_ids, local, idx, sc, "category", config))
    return pd.concat(frames, ignore_index=True)


@dataclass(frozen=True)
class DuplicateConfig:
    """Hamming distances (of 64 bits) under which two pictures are the same picture; both must hold."""

    max_phash_distance: int = 10
    max_dhash_distance: int = 12
    block: int = 4096


def _find(parent: np.ndarray, i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def duplicate_groups(product_ids: np.ndarray, phash: np.ndarray, dhash: np.ndarray,
                     sha256: np.ndarray | None = None, *, config: DuplicateConfig | None = None) -> list[list]:
    """Groups (two or more products) whose pictures are the same picture, each sorted, largest first.

    Pairs are found block-wise (an n x block distance matrix at a time), then joined by union-find."""
    config = config or DuplicateConfig()
    product_ids = np.asarray(product_ids)
    n = len(product_ids)
    parent = np.arange(n)

    def union(a: int, b: int) -> None:
        ra, rb = _find(parent, a), _find(parent, b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    phash = np.asarray(phash, dtype=np.int64)
    dhash = np.asarray(dhash, dtype=np.int64)
    for start in range(0, n, config.block):
        stop = min(start + config.block, n)
        close = ((hamming(phash[start:stop], phash[start:]) <= config.max_phash_distance)
                 & (hamming(dhash[start:stop], dhash[start:]) <= config.max_dhash_distance))
        rows, cols = np.nonzero(close)
        for a, b in zip(rows + start, cols + start, strict=True):
            if a < b:
                union(int(a), int(b))
    if sha256 is not None:
        first: dict = {}
        for i, digest in enumerate(sha256):
            if digest:
                union(i, first.setdefault(digest, i))
    roots = np.array([_find(parent, i) for i in range(n)], dtype=np.int64)
    groups: dict[int, list] = {}
    for i, root in enumerate(roots):
        groups.setdefault(int(root), []).append(product_ids[i].item() if hasattr(product_ids[i], "item")
                                                else product_ids[i])
    result = [sorted(members) for members in groups.values() if len(members) > 1]
    result.sort(key=lambda members: (-len(members), str(members[0])))
    return result
