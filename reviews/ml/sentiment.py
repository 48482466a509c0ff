"""Sentiment learned from the shop's own stars, in any language.

Why these choices (measured with bench/reviews.py on real Chinese reviews, half rated, against the peer
"character 1–3-gram TF-IDF + logistic regression" trained on the same rated half):

- Stars are weak labels: 4–5 positive, 1–2 negative; 3-star reviews are neutral and not trained on.
- Character 1–3-grams carry languages written without spaces (Chinese, Japanese) and survive misspellings
  and inflection; word 1–2-grams (Unicode word tokens) beside them carry phrases in spaced languages.
- Two linear views of those n-grams, averaged: a logistic regression on sublinear TF-IDF (C=10, far less
  regularised than the peer's default) and an NB-SVM (logistic regression on binary n-grams scaled by their
  naive-Bayes log-count ratios; Wang & Manning 2012). Their errors differ, so the mean ranks better than either.
- Neighbour smoothing (transductive, like label propagation): a review's probability is blended with the
  mean of its nearest neighbours among the shop's reviews (character 2–3-gram cosine), whose values are
  their stars when rated and the model's probability when not. Reviews of the same product and hotel
  repeat each other's phrases; this uses the unrated reviews, which a model trained on stars alone ignores.
  Its weight (0 or 0.3) is chosen by cross-validation on the rated reviews, as is the model (TF-IDF LR,
  NB-SVM or their mean); the unrated reviews' labels are never seen.
- Probabilities are calibrated by Platt scaling on out-of-fold scores, so 0.8 means about 80 % of such
  reviews are positive. Rated reviews get their out-of-fold probability (never one from a model that saw them).
- Three classes out: rated reviews by their stars (the customer's own verdict), unrated ones positive
  above `neutral_high`, negative below `neutral_low`, neutral between (low confidence).
- Too few rated reviews of either side: no model. English text is scored with VADER (the pinned
  `vaderSentiment` lexicon); other languages stay unscored and the statement says what the data allows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, brier_score_loss, log_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold

from .language import language_guess

POSITIVE, NEUTRAL, NEGATIVE = "positive", "neutral", "negative"
CANDIDATES = ("tfidf_lr", "nbsvm", "ensemble")


@dataclass(frozen=True)
class SentimentConfig:
    """Knobs of `sentiment_fit_score`; the defaults are the measured ones."""

    min_rated: int = 60  # rated positive + negative reviews needed to train
    min_per_class: int = 15  # of each side
    folds: int = 5
    neutral_low: float = 0.35
    neutral_high: float = 0.65
    max_train: int = 100_000  # rated reviews trained on (a seeded sample beyond)
    max_cv: int = 20_000  # rated reviews cross-validated on
    knn_k: int = 20
    knn_pool: int = 20_000  # reviews a review's neighbours are searched among
    knn_weights: tuple[float, ...] = (0.0, 0.3)
    tfidf_c: float = 10.0
    nbsvm_c: float = 0.1
    chunk: int = 20_000  # reviews transformed and scored at a time
    seed: int = 0


@dataclass(frozen=True)
class SentimentResult:
    """Per review (input order): positive probability (NaN: unscored), the three-class label ("" unknown),
    the language used; and, for the shop: the method, cross-validated metrics and a statement in words."""

    positive_probability: np.ndarray
    sentiment: np.ndarray
    language: np.ndarray
    method: str  # "model", "lexicon" or "none"
    metrics: dict = field(default_factory=dict)
    statement: str = ""


def star_labels(ratings: pd.Series) -> np.ndarray:
    """Weak labels from stars: 1.0 for 4–5, 0.0 for 1–2, NaN for 3 or no rating."""
    stars = pd.to_numeric(ratings, errors="coerce").to_numpy(dtype=float)
    out = np.full(len(stars), np.nan)
    out[stars >= 4] = 1.0
    out[stars <= 2] = 0.0
    return out


def star_sentiment(ratings: pd.Series) -> np.ndarray:
    """Three classes from stars ("" where there is no rating)."""
    stars = pd.to_numeric(ratings, errors="coerce").to_numpy(dtype=float)
    return np.select([stars >= 4, stars == 3, stars <= 2], [POSITIVE, NEUTRAL, NEGATIVE], "").astype(object)


def review_text(frame: pd.DataFrame) -> np.ndarray:
    """Title and text joined (either may be missing), as one string per review."""
    title = frame["title"].fillna("").astype(str) if "title" in frame else ""
    text = frame["text"].fillna("").astype(str)
    return (title + " " + text).str.strip().to_numpy(dtype=object) if "title" in frame else text.to_numpy(dtype=object)


def sentiment_fit_score(frame: pd.DataFrame, *, config: SentimentConfig = SentimentConfig()) -> SentimentResult:
    """Learn sentiment from the rated reviews of `frame` and score every review.

    `frame`: columns text, rating (1–5 or NaN), optional title and language. Returns per-review calibrated
    positive probabilities (out-of-fold for the rated reviews), three-class labels and the cross-validated
    metrics of the chosen model beside the peer's (char 1–3-gram TF-IDF + default logistic regression)."""
    texts = review_text(frame)
    given = frame["language"].fillna("").astype(str).str.lower().str[:2].to_numpy(dtype=object) \
        if "language" in frame else np.full(len(frame), "", dtype=object)
    language = np.array([g or language_guess(t) for g, t in zip(given, texts, strict=True)], dtype=object)
    y = star_labels(frame["rating"]) if "rating" in frame else np.full(len(frame), np.nan)
    stars = star_sentiment(frame["rating"]) if "rating" in frame else np.full(len(frame), "", dtype=object)
    labelled = np.flatnonzero(~np.isnan(y) & (texts != ""))
    positives = int((y[labelled] == 1).sum())
    negatives = len(labelled) - positives
    if len(labelled) < config.min_rated or min(positives, negatives) < config.min_per_class:
        return _lexicon_result(texts, language, stars, positives=positives, negatives=negatives, config=config)
    return _model_result(texts, language, stars, y, labelled, config=config)


# --- the learned model ------------------------------------------------------------------------------------


class _Views:
    """The fitted n-gram vectorisers: TF-IDF (char 1–3 + word 1–2) and binary counts for the NB-SVM."""

    def __init__(self, texts: np.ndarray):
        self.char = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, lowercase=True,
                                    dtype=np.float32)
        self.word = TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, min_df=2,
                                    token_pattern=r"(?u)\b\w+\b", dtype=np.float32)
        self.char.fit(texts)
        try:
            self.word.fit(texts)
        except ValueError:  # no word seen twice (tiny shops): characters alone
            self.word = None

    def tfidf(self, texts: np.ndarray) -> sparse.csr_matrix:
        char = self.char.transform(texts)
        return char if self.word is None else sparse.hstack([char, self.word.transform(texts)], format="csr")

    def binary(self, texts: np.ndarray) -> sparse.csr_matrix:
        x = self.tfidf(texts)
        x.data[:] = 1.0
        return x


def _nb_ratio(x: sparse.csr_matrix, y: np.ndarray) -> np.ndarray:
    p = 1.0 + np.asarray(x[y == 1].sum(0)).ravel()
    q = 1.0 + np.asarray(x[y == 0].sum(0)).ravel()
    return np.log((p / p.sum()) / (q / q.sum())).astype(np.float32)


class _Models:
    """TF-IDF logistic regression and NB-SVM fitted on one set of rated reviews."""

    def __init__(self, texts: np.ndarray, y: np.ndarray, config: SentimentConfig):
        self.views = _Views(texts)
        x = self.views.tfidf(texts)
        self.lr = LogisticRegression(C=config.tfidf_c, max_iter=2000).fit(x, y)
        b = x.copy()
        b.data[:] = 1.0
        self.ratio = _nb_ratio(b, y)
        self.nb = LogisticRegression(C=config.nbsvm_c, max_iter=3000).fit(b.multiply(self.ratio).tocsr(), y)

    def scores(self, texts: np.ndarray) -> dict[str, np.ndarray]:
        x = self.views.tfidf(texts)
        lr = self.lr.predict_proba(x)[:, 1]
        x.data[:] = 1.0
        nb = self.nb.predict_proba(x.multiply(self.ratio).tocsr())[:, 1]
        return {"tfidf_lr": lr, "nbsvm": nb, "ensemble": (lr + nb) / 2}


def _peer_scores(train: np.ndarray, y: np.ndarray, test: np.ndarray) -> np.ndarray:
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3))
    model = LogisticRegression(max_iter=1000).fit(vectorizer.fit_transform(train), y)
    return model.predict_proba(vectorizer.transform(test))[:, 1]


def _neighbours(query: sparse.csr_matrix, pool: sparse.csr_matrix, k: int, *, exclude: np.ndarray | None = None,
                block: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Indices and cosine similarities of each query row's k most similar pool rows (rows L2-normalised).

    `exclude`: per query row, a pool index to skip (itself), or -1."""
    k = min(k, pool.shape[0] - 1) if exclude is not None else min(k, pool.shape[0])
    index = np.zeros((query.shape[0], max(k, 0)), dtype=np.int64)
    weight = np.zeros((query.shape[0], max(k, 0)), dtype=np.float32)
    if k <= 0:
        return index, weight
    pool_t = pool.T.tocsr()
    for start in range(0, query.shape[0], block):
        sims = (query[start:start + block] @ pool_t).toarray()
        if exclude is not None:
            rows = np.flatnonzero(exclude[start:start + block] >= 0)
            sims[rows, exclude[start:start + block][rows]] = -1.0
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        index[start:start + block] = top
        weight[start:start + block] = np.take_along_axis(sims, top, 1)
    np.clip(weight, 0.0, None, out=weight)
    return index, weight


def _smooth(own: np.ndarray, values: np.ndarray, weights: np.ndarray, alpha: float) -> np.ndarray:
    if alpha == 0.0 or weights.shape[1] == 0:
        return own
    total = weights.sum(1)
    mean = np.where(total > 0, (weights * values).sum(1) / np.maximum(total, 1e-9), own)
    return (1 - alpha) * own + alpha * mean


def _platt(scores: np.ndarray, y: np.ndarray) -> LogisticRegression:
    logit = np.log(np.clip(scores, 1e-6, 1 - 1e-6) / np.clip(1 - scores, 1e-6, 1)).reshape(-1, 1)
    return LogisticRegression(C=1e4, max_iter=1000).fit(logit, y)


def _platt_apply(model: LogisticRegression, scores: np.ndarray) -> np.ndarray:
    logit = np.log(np.clip(scores, 1e-6, 1 - 1e-6) / np.clip(1 - scores, 1e-6, 1)).reshape(-1, 1)
    return model.predict_proba(logit)[:, 1]


def _metrics(y: np.ndarray, p: np.ndarray) -> dict:
    return {"accuracy": round(float(accuracy_score(y, p >= 0.5)), 4), "roc_auc": round(float(roc_auc_score(y, p)), 4),
            "log_loss": round(float(log_loss(y, np.clip(p, 1e-6, 1 - 1e-6))), 4),
            "brier": round(float(brier_score_loss(y, p)), 4)}


def _model_result(texts: np.ndarray, language: np.ndarray, stars: np.ndarray, y: np.ndarray, labelled: np.ndarray,
                  *, config: SentimentConfig) -> SentimentResult:
    rng = np.random.RandomState(config.seed)
    train = labelled if len(labelled) <= config.max_train else np.sort(rng.choice(labelled, config.max_train, False))
    cv_rows = train if len(train) <= config.max_cv else np.sort(rng.choice(train, config.max_cv, False))
    y_cv = y[cv_rows].astype(int)
    folds = min(config.folds, int(min(np.bincount(y_cv))))
    fold_of = np.zeros(len(cv_rows), dtype=int)
    oof = {name: np.zeros(len(cv_rows)) for name in CANDIDATES}
    peer = np.zeros(len(cv_rows))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=config.seed)
    for f, (fit_idx, held) in enumerate(splitter.split(cv_rows, y_cv)):
        fold_of[held] = f
        models = _Models(texts[cv_rows[fit_idx]], y_cv[fit_idx], config)
        for name, scores in models.scores(texts[cv_rows[held]]).items():
            oof[name][held] = scores
        peer[held] = _peer_scores(texts[cv_rows[fit_idx]], y_cv[fit_idx], texts[cv_rows[held]])
    # The neighbours of each cross-validated review among the others (character 2–3-gram cosine): other
    # folds' reviews count with their stars, its own fold's with their out-of-fold probability.
    knn = TfidfVectorizer(analyzer="char", ngram_range=(2, 3), sublinear_tf=True, min_df=2, dtype=np.float32)
    knn.fit(texts[train] if len(train) >= 2 else texts)
    cv_x = knn.transform(texts[cv_rows])
    nbr, weight = _neighbours(cv_x, cv_x, config.knn_k, exclude=np.arange(len(cv_rows)))
    candidates: dict[str, dict] = {}
    best = None
    for name in CANDIDATES:
        values = np.where(fold_of[nbr] != fold_of[:, None], y_cv[nbr], oof[name][nbr])
        for alpha in config.knn_weights:
            scored = _smooth(oof[name], values, weight, alpha)
            auc = float(roc_auc_score(y_cv, scored))
            key = f"{name}+knn{alpha:g}" if alpha else name
            candidates[key] = {"roc_auc": round(auc, 4),
                               "accuracy": round(float(accuracy_score(y_cv, scored >= 0.5)), 4)}
            if best is None or auc > best[0] + 1e-4:
                best = (auc, name, alpha, scored)
    _, chosen, alpha, chosen_oof = best
    calibrator = _platt(chosen_oof, y_cv)
    cv_metrics = _metrics(y_cv, _platt_apply(calibrator, chosen_oof))

    # Fit on every rated review (up to max_train) and score all, in chunks.
    models = _Models(texts[train], y[train].astype(int), config)
    raw = np.empty(len(texts))
    for start in range(0, len(texts), config.chunk):
        raw[start:start + config.chunk] = models.scores(texts[start:start + config.chunk])[chosen]
    # Rated reviews cross-validated keep their out-of-fold score; other rated ones are scored by a model that
    # saw them only when beyond max_cv (big shops, where one review weighs little).
    raw[cv_rows] = oof[chosen]
    if alpha:
        raw = _smooth_all(texts, raw, y, knn, alpha=alpha, config=config, rng=rng)
    probability = _platt_apply(calibrator, raw)
    sentiment = _three_classes(probability, stars, config)
    metrics = {
        "rated": int(len(labelled)), "trained_on": int(len(train)), "cross_validated_on": int(len(cv_rows)),
        "folds": int(folds), "model": chosen, "neighbour_weight": alpha, "cv": cv_metrics,
        "peer_cv": _metrics(y_cv, peer), "peer": "char 1-3-gram TF-IDF + logistic regression",
        "candidates_cv_roc_auc": {k: v["roc_auc"] for k, v in candidates.items()},
    }
    statement = (f"Sentiment learned from {len(labelled):,} rated reviews ({int((y[labelled] == 1).sum()):,} with 4-5 "
                 f"stars, {int((y[labelled] == 0).sum()):,} with 1-2); cross-validated accuracy "
                 f"{cv_metrics['accuracy']:.1%}, ROC AUC {cv_metrics['roc_auc']:.3f} "
                 f"(peer: {metrics['peer_cv']['accuracy']:.1%}, {metrics['peer_cv']['roc_auc']:.3f}).")
    return SentimentResult(positive_probability=probability, sentiment=sentiment, language=language,
                           method="model", metrics=metrics, statement=statement)


def _smooth_all(texts: np.ndarray, raw: np.ndarray, y: np.ndarray, knn: TfidfVectorizer, *, alpha: float,
                config: SentimentConfig, rng: np.random.RandomState) -> np.ndarray:
    """Blend each unrated review's score with its neighbours' among a pool of up to knn_pool reviews (rated
    ones by their stars, unrated by their score)."""
    unrated = np.flatnonzero(np.isnan(y))
    if not len(unrated):
        return raw
    everyone = np.arange(len(texts))
    pool = everyone if len(texts) <= config.knn_pool else np.sort(rng.choice(everyone, config.knn_pool, False))
    pool_values = np.where(np.isnan(y[pool]), raw[pool], y[pool])
    position = np.full(len(texts), -1)
    position[pool] = np.arange(len(pool))
    pool_x = knn.transform(texts[pool])
    out = raw.copy()
    for start in range(0, len(unrated), config.chunk):
        rows = unrated[start:start + config.chunk]
        nbr, weight = _neighbours(knn.transform(texts[rows]), pool_x, config.knn_k, exclude=position[rows])
        out[rows] = _smooth(raw[rows], pool_values[nbr], weight, alpha)
    return out


def _three_classes(probability: np.ndarray, stars: np.ndarray, config: SentimentConfig) -> np.ndarray:
    labels = np.select([probability >= config.neutral_high, probability <= config.neutral_low,
                        ~np.isnan(probability)], [POSITIVE, NEGATIVE, NEUTRAL], "").astype(object)
    return np.where(stars != "", stars, labels)


# --- too few stars: a lexicon where one exists --------------------------------------------------------------


def _lexicon_result(texts: np.ndarray, language: np.ndarray, stars: np.ndarray, *, positives: int, negatives: int,
                    config: SentimentConfig) -> SentimentResult:
    probability = np.full(len(texts), np.nan)
    english = np.flatnonzero((language == "en") & (texts != ""))
    if len(english):
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        analyzer = SentimentIntensityAnalyzer()
        compound = np.array([analyzer.polarity_scores(text)["compound"] for text in texts[english]])
        probability[english] = (compound + 1) / 2  # not calibrated: the lexicon's score mapped to [0, 1]
    sentiment = _three_classes(probability, stars, config)
    unscored = int(np.isnan(probability).sum() - (stars != "").sum())
    need = f"at least {config.min_rated} rated reviews with at least {config.min_per_class} on each side"
    statement = (f"Too few star ratings to learn this shop's sentiment ({positives} reviews with 4-5 stars, "
                 f"{negatives} with 1-2; {need}). ")
    statement += (f"{len(english):,} English reviews are scored with the VADER lexicon (not calibrated, not "
                   "validated on this shop). " if len(english) else "")
    statement += (f"{max(unscored, 0):,} unrated reviews in other languages stay unscored until more are rated."
                  if unscored > 0 else "")
    method = "lexicon" if len(english) else "none"
    return SentimentResult(positive_probability=probability, sentiment=sentiment, language=language, method=method,
                           metrics={"rated": positives + negatives, "positives": positives, "negatives": negatives,
                                    "lexicon_scored": int(len(english))},
                           statement=statement.strip())
