"""Similar products for every product: "customers also bought" (item CF) and content (TF-IDF)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .data import InteractionData, topk_csr


def similar_frame(data: InteractionData, similarity: sp.csr_matrix, *, kind: str, k: int) -> pd.DataFrame:
    """Top-k active neighbours per product as rows (product_id, similar_id, kind, rank 1..k, score)."""
    matrix = sp.csr_matrix(similarity, dtype=np.float32, copy=True)
    matrix.data[~data.active[matrix.indices]] = 0.0
    matrix.eliminate_zeros()
    top = topk_csr(matrix, k)
    src, rank = np.nonzero(top.items >= 0)
    return pd.DataFrame(
        {
            "product_id": data.product_ids[src],
            "similar_id": data.product_ids[top.items[src, rank]],
            "kind": kind,
            "rank": (rank + 1).astype(np.int16),
            "score": top.scores[src, rank].astype(np.float32),
        }
    )


def similar_products_frame(
    data: InteractionData, *, also_bought: sp.csr_matrix, content: sp.csr_matrix, k: int
) -> pd.DataFrame:
    """Both kinds stacked; products nobody touched still get content neighbours."""
    return pd.concat(
        [similar_frame(data, also_bought, kind="also_bought", k=k), similar_frame(data, content, kind="content", k=k)],
        ignore_index=True,
    )
