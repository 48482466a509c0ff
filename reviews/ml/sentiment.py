"""Sentiment learned from the shop's own stars, in any language.

Why these choices (measured with bench/reviews.py on real Chinese reviews, half rated, against the peer
"character 1–3-gram TF-IDF + logistic regression" trained on the same rated half):

- Stars are weak labels: 4–5 positive, 1–2 negative; 3-star reviews are neutral and not trained on.
- Character 1–3-grams carry languages written without spaces (Chinese, Japanese) and survive misspellings
  and inflection; word 1–2-grams (Unicode word tokens) beside them carry phrases in spaced languages.
- Two linear views of those n-grams, averaged: a logistic regression on sublinear TF-IDF (C=10, far less
  regularised than the peer's default) and an NB-SVM (logistic regression on binary n-grams scaled by their
  naive-Bayes log-count ratios; Wang & Manning 2012). Their errors differ, so the mean ranks better than either.
- Topic models beside the shop-wide one: the shop's reviews (rated and unrated, no labels) are grouped into
  a few topics (character TF-IDF, LSA, k-means: books, laptops, hotels…), and a logistic regression per
  topic learns that topic's own words ("thin" is good in a laptop, bad in a hotel wall); its score is mixed
  in with weight 0.25 when cross-validation says so.
- Neighbour smoothing (transductive, like label propagation): a review's probability is blended with the
  mean of its nearest neighbours among the shop's reviews (character 2–3-gram cosine), whose values are
  their stars when rated and the model's probability when not. Reviews of the same product and hotel
  repeat each other's phrases; this uses the unrated reviews, which a model trained on stars alone ignores.
  Its weight (0 or 0.3) is chosen by cross-validation on the rated reviews, as are the model (TF-IDF LR,
  NB-SVM or their mean) and the topic weight; the unrated reviews' labels are never seen.
- Probabilities are calibrated by Platt scaling on out-of-fold scores, so 0.8 means about 80 % of such
  reviews are positive. Rated reviews get their out-of-fold probability (never one from a model that saw them).
- Three classes out: rated reviews by their stars (the customer's own verdict), unrated ones positive
  above `neutral_high`, negative below `neutral_low`, neutral between (low confidence).
- Too few rated reviews of either side: no model. English text is scored with VADER (the pinned
  `vaderSentiment` lexicon); other languages stay unscored and the statement says what the data allows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.cluster import KMeans
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, brier_score_loss, log_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold

from .language import language_guess

POSITIVE, NEUTRAL, NEGATIVE = "positive", "neutral", "negative"
CANDIDATES = ("tfidf_lr", "nbsvm", "ensemble")  # the last is the default (see SELECTION_TOLERANCE)
SELECTION_TOLERANCE = 0.002


@dataclass(frozen=True)
class SentimentConfig:
    """Knobs of `sentiment_fit_score`; the defaults are the measured ones."""

    min_rated: int = 60  # rated positive + negative reviews needed to train
    min_per_class: int = 15  # of each side
    folds: int = 5
    neutral_low: float = 0.35
    neutral_high: float = 0.65
    max_train: int = 50_000  # rated reviews trained on (a seeded sample beyond)
    max_cv: int = 10_000  # rated reviews cross-validated on
    knn_k: int = 20
    knn_pool: int = 20_000  # reviews a review's neighbours are searched among
    knn_weights: tuple[float, ...] = (0.0, 0.3)
    topics: int = 3  # topics of the shop's reviews, each with its own model beside the shop-wide one
    topic_weights: tuple[float, ...] = (0.0, 0.25)
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


class _Topics:
    """The shop's reviews grouped into a few topics (what is reviewed: books, laptops, hotels…), without labels:
    character 1–3-gram TF-IDF fitted on a sample of all reviews, 100-dimensional LSA, k-means. The same
    TF-IDF space finds a review's neighbours."""

    def __init__(self, texts: np.ndarray, config: SentimentConfig):
        self.vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=2,
                                          dtype=np.float32)
        try:
            x = self.vectorizer.fit_transform(texts)
        except ValueError:  # nothing seen twice (tiny shops)
            self.vectorizer.set_params(min_df=1)
            x = self.vectorizer.fit_transform(texts)
        self.svd = self.kmeans = None
        dims = min(100, x.shape[1] - 1, x.shape[0] - 1)
        if config.topics > 1 and dims >= 2 and x.shape[0] >= 10 * config.topics:
            self.svd = TruncatedSVD(dims, random_state=config.seed).fit(x)
            self.kmeans = KMeans(config.topics, n_init=4, random_state=config.seed).fit(self._reduce(x))

    def _reduce(self, x: sparse.csr_matrix) -> np.ndarray:
        z = self.svd.transform(x)
        return z / (np.linalg.norm(z, axis=1, keepdims=True) + 1e-9)

    def transform(self, texts: np.ndarray) -> sparse.csr_matrix:
        return self.vectorizer.transform(texts)

    def labels(self, x: sparse.csr_matrix) -> np.ndarray:
        """The topic of each row of `x` (rows from `transform`)."""
        if self.kmeans is None:
            return np.zeros(x.shape[0], dtype=int)
        return self.kmeans.predict(self._reduce(x))

    def assign(self, texts: np.ndarray, *, chunk: int) -> np.ndarray:
        out = np.empty(len(texts), dtype=int)
        for start in range(0, len(texts), chunk):
            out[start:start + chunk] = self.labels(self.transform(texts[start:start + chunk]))
        return out


class _TopicModels:
    """A TF-IDF logistic regression per topic, trained on that topic's rated reviews (None where too few)."""

    def __init__(self, texts: np.ndarray, y: np.ndarray, topic: np.ndarray, config: SentimentConfig):
        self.models: dict[int, tuple] = {}
        for t in np.unique(topic):
            rows = topic == t
            if rows.sum() < 50 or min(np.bincount(y[rows], minlength=2)) < 10:
                continue
            vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, dtype=np.float32)
            model = LogisticRegression(C=config.tfidf_c, max_iter=2000).fit(vectorizer.fit_transform(texts[rows]),
                                                                          y[rows])
            self.models[int(t)] = (vectorizer, model)

    def scores(self, texts: np.ndarray, topic: np.ndarray, fallback: np.ndarray) -> np.ndarray:
        out = fallback.copy()
        for t, (vectorizer, model) in self.models.items():
            rows = np.flatnonzero(topic == t)
            if len(rows):
                out[rows] = model.predict_proba(vectorizer.transform(texts[rows]))[:, 1]
        return out


def _model_result(texts: np.ndarray, language: np.ndarray, stars: np.ndarray, y: np.ndarray, labelled: np.ndarray,
                  *, config: SentimentConfig) -> SentimentResult:
    clock = _Clock()
    rng = np.random.RandomState(config.seed)
    train = labelled if len(labelled) <= config.max_train else np.sort(rng.choice(labelled, config.max_train, False))
    cv_rows = train if len(train) <= config.max_cv else np.sort(rng.choice(train, config.max_cv, False))
    y_cv = y[cv_rows].astype(int)
    everyone = np.arange(len(texts))
    pool = everyone if len(texts) <= config.knn_pool else np.sort(rng.choice(everyone, config.knn_pool, False))
    topics = _Topics(texts[pool], config)
    topic = np.zeros(len(texts), dtype=int)
    topic[train] = topics.assign(texts[train], chunk=config.chunk)  # the others' as they are scored
    clock.lap("topics")
    folds = min(config.folds, int(min(np.bincount(y_cv))))
    fold_of = np.zeros(len(cv_rows), dtype=int)
    oof = {name: np.zeros(len(cv_rows)) for name in CANDIDATES}
    oof_topic = np.zeros(len(cv_rows))
    peer = np.zeros(len(cv_rows))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=config.seed)
    for f, (fit_idx, held) in enumerate(splitter.split(cv_rows, y_cv)):
        fold_of[held] = f
        models = _Models(texts[cv_rows[fit_idx]], y_cv[fit_idx], config)
        for name, scores in models.scores(texts[cv_rows[held]]).items():
            oof[name][held] = scores
        local = _TopicModels(texts[cv_rows[fit_idx]], y_cv[fit_idx], topic[cv_rows[fit_idx]], config)
        oof_topic[held] = local.scores(texts[cv_rows[held]], topic[cv_rows[held]], np.full(len(held), np.nan))
        peer[held] = _peer_scores(texts[cv_rows[fit_idx]], y_cv[fit_idx], texts[cv_rows[held]])
    clock.lap("cross_validation")
    # The neighbours of each cross-validated review among the others: other folds' reviews count with their
    # stars, its own fold's with their out-of-fold probability.
    cv_x = topics.transform(texts[cv_rows])
    nbr, weight = _neighbours(cv_x, cv_x, config.knn_k, exclude=np.arange(len(cv_rows)))
    candidates: dict[str, float] = {}
    best = None
    for name in CANDIDATES:
        for mix in config.topic_weights:
            base = oof[name] if not mix else _mix(oof[name], oof_topic, mix)
            values = np.where(fold_of[nbr] != fold_of[:, None], y_cv[nbr], base[nbr])
            for alpha in config.knn_weights:
                scored = _smooth(base, values, weight, alpha)
                auc = float(roc_auc_score(y_cv, scored))
                key = name + (f"+topics{mix:g}" if mix else "") + (f"+knn{alpha:g}" if alpha else "")
                candidates[key] = round(auc, 4)
                if best is None or auc > best[0] + 1e-4:
                    best = (auc, name, mix, alpha, scored)
    # The full method (both models, topic models, neighbours) stays unless a simpler variant beats it clearly:
    # differences below SELECTION_TOLERANCE in cross-validated AUC are noise between near-equal candidates.
    full = (CANDIDATES[-1], max(config.topic_weights), max(config.knn_weights))
    key = full[0] + (f"+topics{full[1]:g}" if full[1] else "") + (f"+knn{full[2]:g}" if full[2] else "")
    if candidates[key] >= best[0] - SELECTION_TOLERANCE:
        base = oof[full[0]] if not full[1] else _mix(oof[full[0]], oof_topic, full[1])
        values = np.where(fold_of[nbr] != fold_of[:, None], y_cv[nbr], base[nbr])
        best = (candidates[key], *full, _smooth(base, values, weight, full[2]))
    _, chosen, mix, alpha, chosen_oof = best
    calibrator = _platt(chosen_oof, y_cv)
    cv_metrics = _metrics(y_cv, _platt_apply(calibrator, chosen_oof))
    clock.lap("selection")

    # Fit on every rated review (up to max_train) and score all, in chunks.
    models = _Models(texts[train], y[train].astype(int), config)
    local = _TopicModels(texts[train], y[train].astype(int), topic[train], config) if mix else None
    clock.lap("training")
    # Rated reviews cross-validated keep their out-of-fold score; other rated ones are scored by a model that
    # saw them only when beyond max_cv (big shops, where one review weighs little).
    fixed = np.full(len(texts), np.nan)
    fixed[cv_rows] = oof[chosen] if not mix else _mix(oof[chosen], oof_topic, mix)

    def score(rows: np.ndarray, x: sparse.csr_matrix) -> np.ndarray:
        """Raw scores of `rows` (x: their rows in the topic space), out-of-fold ones where they exist."""
        out = models.scores(texts[rows])[chosen]
        if local is not None:
            out = _mix(out, local.scores(texts[rows], topics.labels(x), np.full(len(rows), np.nan)), mix)
        return np.where(np.isnan(fixed[rows]), out, fixed[rows])

    # The neighbours' pool is scored first; then one pass over every review: topic space, scores, smoothing.
    pool_x = topics.transform(texts[pool])
    pool_values = np.where(np.isnan(y[pool]), score(pool, pool_x), y[pool])
    position = np.full(len(texts), -1)
    position[pool] = np.arange(len(pool))
    raw = np.empty(len(texts))
    for start in range(0, len(texts), config.chunk):
        rows = np.arange(start, min(start + config.chunk, len(texts)))
        x = topics.transform(texts[rows])
        raw[rows] = score(rows, x)
        unrated = np.flatnonzero(np.isnan(y[rows]))
        if alpha and len(unrated):
            nbr, weight = _neighbours(x[unrated], pool_x, config.knn_k, exclude=position[rows[unrated]])
            raw[rows[unrated]] = _smooth(raw[rows[unrated]], pool_values[nbr], weight, alpha)
    clock.lap("scoring")
    probability = _platt_apply(calibrator, raw)
    sentiment = _three_classes(probability, stars, config)
    metrics = {
        "rated": int(len(labelled)), "trained_on": int(len(train)), "cross_validated_on": int(len(cv_rows)),
        "folds": int(folds), "model": chosen, "topic_weight": mix, "neighbour_weight": alpha, "cv": cv_metrics,
        "peer_cv": _metrics(y_cv, peer), "peer": "char 1-3-gram TF-IDF + logistic regression",
        "candidates_cv_roc_auc": candidates, "seconds": clock.laps,
    }
    statement = (f"Sentiment learned from {len(labelled):,} rated reviews ({int((y[labelled] == 1).sum()):,} with 4-5 "
                 f"stars, {int((y[labelled] == 0).sum()):,} with 1-2); cross-validated accuracy "
                 f"{cv_metrics['accuracy']:.1%}, ROC AUC {cv_metrics['roc_auc']:.3f} "
                 f"(peer: {metrics['peer_cv']['accuracy']:.1%}, {metrics['peer_cv']['roc_auc']:.3f}).")
    return SentimentResult(positive_probability=probability, sentiment=sentiment, language=language,
                           method="model", metrics=metrics, statement=statement)


def _mix(base: np.ndarray, topic_scores: np.ndarray, weight: float) -> np.ndarray:
    """(1 - weight) × the shop-wide score + weight × the topic model's (the shop-wide one where none)."""
    return np.where(np.isnan(topic_scores), base, (1 - weight) * base + weight * topic_scores)


class _Clock:
    def __init__(self):
        self.laps: dict[str, float] = {}
        self._last = time.monotonic()

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.laps[name] = round(now - self._last, 2)
        self._last = now


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
