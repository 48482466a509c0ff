"""Content-based: TF-IDF over title, description, category and brand; item-item cosine."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from .base import Recommender, strongest_contributor
from .config import RecommenderConfig
from .data import InteractionData, row_normalise, top_n_similarity
from .item_knn import contributor_codes, contributor_text


def _token(prefix: str, value: str) -> str:
    slug = re.sub(r"\W+", "_", value.strip().lower()).strip("_")
    return f"{prefix}{slug}" if slug else ""


def product_documents(products: pd.DataFrame) -> list[str]:
    """One text per product: title, description, then category-path and brand tokens (`zcat_food_cat_food`)."""
    def column(name):
        return products[name].fillna("").astype(str) if name in products else pd.Series("", index=products.index)

    docs = []
    for title, desc, cat, brand in zip(column("title"), column("description"), column("category"), column("brand"),
                                       strict=True):
        parts = [title, desc]
        path = [p for p in re.split(r"\s*(?:>|/)\s*", cat) if p.strip()]
        # every level of the path, so "Food > Cat food" shares a token with "Food > Dog food"
        parts += [_token("zcat_", "_".join(path[: i + 1])) for i in range(len(path))]
        parts.append(_token("zbrand_", brand))
        docs.append(" ".join(p for p in parts if p))
    return docs


def tfidf_matrix(products: pd.DataFrame) -> sp.csr_matrix:
    """L2-normalised TF-IDF rows; all-zero (no columns) when the catalogue has no text at all."""
    docs = product_documents(products)
    try:
        vectorizer = TfidfVectorizer(sublinear_tf=True, max_df=0.8 if len(docs) > 10 else 1.0, dtype=np.float32)
        matrix = sp.csr_matrix(vectorizer.fit_transform(docs))
    except ValueError:  # empty vocabulary: products known only by id
        return sp.csr_matrix((len(docs), 0), dtype=np.float32)
    # a token every product shares (the one category of a one-category shop) makes everything "similar"
    df = np.bincount(matrix.indices, minlength=matrix.shape[1])
    matrix = sp.csr_matrix(matrix[:, np.flatnonzero(df < len(docs))]) if len(docs) > 1 else matrix
    return row_normalise(matrix)


def content_similarity(products: pd.DataFrame, config: RecommenderConfig) -> sp.csr_matrix:
    """products x products: each product's `content_neighbours` most similar products by TF-IDF cosine."""
    tfidf = tfidf_matrix(products.reset_index(drop=True))
    if tfidf.shape[1] == 0:
        return sp.csr_matrix((len(products), len(products)), dtype=np.float32)
    return top_n_similarity(tfidf, tfidf, n=config.content_neighbours, block=config.block_size)


class ContentRecommender(Recommender):
    """score(u) = decayed profile x_u @ S_content; reaches new products that nobody has interacted with."""

    name = "content"

    def fit(self, data: InteractionData, *, similarity: sp.csr_matrix | None = None) -> ContentRecommender:
        """`similarity`: a `content_similarity` of the same products frame, computed once and shared."""
        super().fit(data)
        self.similarity = content_similarity(data.products, self.config) if similarity is None else similarity
        return self

    def score(self, rows: np.ndarray) -> sp.csr_matrix:
        return sp.csr_matrix(self.data.weights[rows] @ self.similarity)

    def reason_codes(self, rows: np.ndarray, items: np.ndarray) -> np.ndarray:
        contributor = strongest_contributor(self.data.weights, self.similarity, rows, items)
        return contributor_codes(self.data, rows, contributor)

    def reason_text(self, code: int) -> str:
        return contributor_text(self.data, code, "similar to {label} they {verb}", "similar to products they liked")
