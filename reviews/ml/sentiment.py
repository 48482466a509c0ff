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

import json
import multiprocessing
import os
import platform
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path

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
    workers: int = 0  # processes scoring reviews (0: one per CPU core; 1: in this process)
    part: int = 2_000  # reviews handed to a scoring process at a time
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
    model: SentimentModel | None = None  # the trained model (method "model"), to save and score new reviews with


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
    texts, language, y, stars = _inputs(frame)
    labelled = np.flatnonzero(~np.isnan(y) & (texts != ""))
    positives = int((y[labelled] == 1).sum())
    negatives = len(labelled) - positives
    if len(labelled) < config.min_rated or min(positives, negatives) < config.min_per_class:
        return _lexicon_result(texts, language, stars, positives=positives, negatives=negatives, config=config)
    return _model_result(texts, language, stars, y, labelled, config=config)


def sentiment_score(frame: pd.DataFrame, model: SentimentModel | None, *,
                    config: SentimentConfig = SentimentConfig(), scorer: SentimentScorer | None = None
                    ) -> SentimentResult:
    """Score reviews with a model trained before (no training): reviews imported after the analysis.

    `model` None: the shop has no learned model (too few stars), so English text is scored with the lexicon and
    the others by their stars alone, as the analysis did. Rated reviews keep their stars' class. `scorer`: an
    open `SentimentScorer` of `model` to reuse across calls (its processes stay up)."""
    texts, language, y, stars = _inputs(frame)
    if model is None:
        return _lexicon_result(texts, language, stars, positives=0, negatives=0, config=config)
    with nullcontext(scorer) if scorer is not None else SentimentScorer(model, workers=config.workers,
                                                                         part=config.part) as active:
        raw = active.raw(texts, unrated=np.isnan(y))
    probability = model.calibrate(raw)
    return SentimentResult(positive_probability=probability, language=language, method="model",
                           sentiment=_three_classes(probability, stars, model.neutral_low, model.neutral_high))


def _inputs(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Texts, languages (given, else guessed), weak labels and stars' classes of the reviews of `frame`."""
    texts = review_text(frame)
    given = frame["language"].fillna("").astype(str).str.lower().str[:2].to_numpy(dtype=object) \
        if "language" in frame else np.full(len(frame), "", dtype=object)
    language = np.array([g or language_guess(t) for g, t in zip(given, texts, strict=True)], dtype=object)
    y = star_labels(frame["rating"]) if "rating" in frame else np.full(len(frame), np.nan)
    stars = star_sentiment(frame["rating"]) if "rating" in frame else np.full(len(frame), "", dtype=object)
    return texts, language, y, stars


# --- the learned model ------------------------------------------------------------------------------------


class _Views:
    """The fitted n-gram vectorisers: TF-IDF (char 1–3 + word 1–2) and binary counts for the NB-SVM."""

    def __init__(self, texts: np.ndarray):
        self.char = _char_vectorizer()
        self.word = _word_vectorizer()
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
        self.vectorizer = _char_vectorizer(min_df=2)
        try:
            x = self.vectorizer.fit_transform(texts)
        except ValueError:  # nothing seen twice (tiny shops)
            self.vectorizer.set_params(min_df=1)
            x = self.vectorizer.fit_transform(texts)
        self.components = self.centers = None  # LSA axes and k-means centres (None: one topic)
        dims = min(100, x.shape[1] - 1, x.shape[0] - 1)
        if config.topics > 1 and dims >= 2 and x.shape[0] >= 10 * config.topics:
            self.components = TruncatedSVD(dims, random_state=config.seed).fit(x).components_
            self.centers = KMeans(config.topics, n_init=4, random_state=config.seed).fit(
                self._reduce(x)).cluster_centers_

    def _reduce(self, x: sparse.csr_matrix) -> np.ndarray:
        z = np.asarray(x @ self.components.T)
        return z / (np.linalg.norm(z, axis=1, keepdims=True) + 1e-9)

    def transform(self, texts: np.ndarray) -> sparse.csr_matrix:
        return self.vectorizer.transform(texts)

    def labels(self, x: sparse.csr_matrix) -> np.ndarray:
        """The topic of each row of `x` (rows from `transform`)."""
        if self.centers is None:
            return np.zeros(x.shape[0], dtype=int)
        z = self._reduce(x)  # the nearest centre, as KMeans.predict
        return np.argmin((self.centers ** 2).sum(1) - 2 * z @ self.centers.T, axis=1)

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
            vectorizer = _char_vectorizer()
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


# --- the trained model, saved and used again --------------------------------------------------------------

ARTIFACT_ALGORITHM = "sentiment"
ARTIFACT_FORMAT = 1
METADATA_FILE = "metadata.json"  # the same metadata document as predictions' artifacts (predictions/ml/artifacts.py)
ARRAYS_FILE = "arrays.npz"
_TRACKED_LIBRARIES = ("numpy", "scipy", "scikit-learn")


@dataclass
class SentimentModel:
    """What scoring a review needs once training is over: the n-gram models, the topic models, the neighbours'
    pool (its reviews' n-gram vectors and values, not their texts) and the calibration. Saved as plain arrays
    and JSON (`save` / `load`): nothing is pickled."""

    models: _Models
    chosen: str  # tfidf_lr, nbsvm or ensemble
    topic_weight: float
    local: _TopicModels | None
    topics: _Topics
    neighbour_weight: float
    pool_x: sparse.csr_matrix | None
    pool_values: np.ndarray
    platt: tuple[float, float]  # p = sigmoid(a * logit(raw) + b)
    knn_k: int
    neutral_low: float
    neutral_high: float

    def raw(self, texts: np.ndarray, unrated: np.ndarray, fixed: np.ndarray | None = None,
            exclude: np.ndarray | None = None) -> np.ndarray:
        """Uncalibrated scores: the chosen model, mixed with the review's topic model, `fixed` values where not
        NaN (out-of-fold ones), and the `unrated` reviews blended with their neighbours in the pool (`exclude`:
        a review's own pool position, or -1)."""
        out = self.models.scores(texts)[self.chosen]
        x = self.topics.transform(texts)
        if self.local is not None:
            out = _mix(out, self.local.scores(texts, self.topics.labels(x), np.full(len(texts), np.nan)),
                       self.topic_weight)
        if fixed is not None:
            out = np.where(np.isnan(fixed), out, fixed)
        rows = np.flatnonzero(unrated)
        if self.neighbour_weight and self.pool_x is not None and len(rows):
            nbr, weight = _neighbours(x[rows], self.pool_x, self.knn_k,
                                      exclude=None if exclude is None else exclude[rows])
            out[rows] = _smooth(out[rows], self.pool_values[nbr], weight, self.neighbour_weight)
        return out

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        logit = np.log(np.clip(raw, 1e-6, 1 - 1e-6) / np.clip(1 - raw, 1e-6, 1))
        return 1.0 / (1.0 + np.exp(-(self.platt[0] * logit + self.platt[1])))

    def save(self, directory: Path) -> None:
        """`metadata.json` (algorithm, parameters, library versions) and `arrays.npz` (vocabularies, idf
        weights, coefficients, the pool's sparse vectors) into `directory` (created)."""
        directory.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {}
        _vectorizer_put(arrays, "char", self.models.views.char)
        if self.models.views.word is not None:
            _vectorizer_put(arrays, "word", self.models.views.word)
        _linear_put(arrays, "lr", self.models.lr)
        _linear_put(arrays, "nb", self.models.nb)
        arrays["nb_ratio"] = self.models.ratio
        _vectorizer_put(arrays, "topics", self.topics.vectorizer)
        if self.topics.centers is not None:
            arrays["topic_components"], arrays["topic_centers"] = self.topics.components, self.topics.centers
        for t, (vectorizer, model) in (self.local.models.items() if self.local is not None else ()):
            _vectorizer_put(arrays, f"local{t}", vectorizer)
            _linear_put(arrays, f"local{t}", model)
        if self.neighbour_weight and self.pool_x is not None:
            pool = self.pool_x.tocsr()
            arrays.update(pool_data=pool.data, pool_indices=pool.indices, pool_indptr=pool.indptr,
                          pool_shape=np.array(pool.shape), pool_values=self.pool_values)
        np.savez(directory / ARRAYS_FILE, **arrays)
        config = {"chosen": self.chosen, "topic_weight": self.topic_weight, "neighbour_weight": self.neighbour_weight,
                  "platt": list(self.platt), "knn_k": self.knn_k, "neutral_low": self.neutral_low,
                  "neutral_high": self.neutral_high, "word": self.models.views.word is not None,
                  "topics": self.topics.centers is not None,
                  "local_topics": sorted(self.local.models) if self.local is not None else None}
        versions = {"python": platform.python_version()}
        for name in _TRACKED_LIBRARIES:
            try:
                versions[name] = importlib_metadata.version(name)
            except importlib_metadata.PackageNotFoundError:
                continue
        (directory / METADATA_FILE).write_text(json.dumps(
            {"algorithm": ARTIFACT_ALGORITHM, "task": "sentiment", "features": [], "config": config,
             "library_versions": versions, "format_version": ARTIFACT_FORMAT}, indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, directory: Path) -> SentimentModel:
        """Read a model written by `save`; ValueError when the folder holds something else."""
        meta = json.loads((directory / METADATA_FILE).read_text())
        if meta.get("algorithm") != ARTIFACT_ALGORITHM or meta.get("format_version") != ARTIFACT_FORMAT:
            raise ValueError(f"{directory} holds no sentiment model of format {ARTIFACT_FORMAT}")
        config = meta["config"]
        with np.load(directory / ARRAYS_FILE, allow_pickle=False) as stored:
            arrays = dict(stored)
        views = object.__new__(_Views)
        views.char = _vectorizer_get(arrays, "char", _char_vectorizer())
        views.word = _vectorizer_get(arrays, "word", _word_vectorizer()) if config["word"] else None
        models = object.__new__(_Models)
        models.views, models.ratio = views, arrays["nb_ratio"]
        models.lr, models.nb = _linear_get(arrays, "lr"), _linear_get(arrays, "nb")
        topics = object.__new__(_Topics)
        topics.vectorizer = _vectorizer_get(arrays, "topics", _char_vectorizer())
        topics.components = arrays["topic_components"] if config["topics"] else None
        topics.centers = arrays["topic_centers"] if config["topics"] else None
        local = None
        if config["local_topics"] is not None:
            local = object.__new__(_TopicModels)
            local.models = {int(t): (_vectorizer_get(arrays, f"local{t}", _char_vectorizer()),
                                     _linear_get(arrays, f"local{t}")) for t in config["local_topics"]}
        pool_x, pool_values = None, np.empty(0, dtype=np.float32)
        if "pool_data" in arrays:
            pool_x = sparse.csr_matrix((arrays["pool_data"], arrays["pool_indices"], arrays["pool_indptr"]),
                                       shape=tuple(int(n) for n in arrays["pool_shape"]))
            pool_values = arrays["pool_values"]
        return cls(models=models, chosen=config["chosen"], topic_weight=float(config["topic_weight"]), local=local,
                   topics=topics, neighbour_weight=float(config["neighbour_weight"]), pool_x=pool_x,
                   pool_values=pool_values, platt=(float(config["platt"][0]), float(config["platt"][1])),
                   knn_k=int(config["knn_k"]), neutral_low=float(config["neutral_low"]),
                   neutral_high=float(config["neutral_high"]))


def _char_vectorizer(**extra) -> TfidfVectorizer:
    return TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, lowercase=True, dtype=np.float32,
                           **extra)


def _word_vectorizer() -> TfidfVectorizer:
    return TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, min_df=2,
                           token_pattern=r"(?u)\b\w+\b", dtype=np.float32)


def _vectorizer_put(arrays: dict, prefix: str, vectorizer: TfidfVectorizer) -> None:
    """The vocabulary as one UTF-8 blob and each term's length in characters (terms may hold any character), and
    the idf weights."""
    terms = [""] * len(vectorizer.vocabulary_)
    for term, index in vectorizer.vocabulary_.items():
        terms[index] = term
    arrays[f"{prefix}_terms"] = np.frombuffer("".join(terms).encode("utf-8"), dtype=np.uint8)
    arrays[f"{prefix}_lengths"] = np.array([len(t) for t in terms], dtype=np.int32)
    arrays[f"{prefix}_idf"] = vectorizer.idf_


def _vectorizer_get(arrays: dict, prefix: str, vectorizer: TfidfVectorizer) -> TfidfVectorizer:
    blob = arrays[f"{prefix}_terms"].tobytes().decode("utf-8")
    ends = np.cumsum(arrays[f"{prefix}_lengths"])
    starts = ends - arrays[f"{prefix}_lengths"]
    vectorizer.vocabulary_ = {blob[a:b]: i for i, (a, b) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True))}
    vectorizer.idf_ = arrays[f"{prefix}_idf"]
    return vectorizer


def _linear_put(arrays: dict, prefix: str, model: LogisticRegression) -> None:
    arrays[f"{prefix}_coef"], arrays[f"{prefix}_intercept"] = model.coef_, model.intercept_


def _linear_get(arrays: dict, prefix: str) -> LogisticRegression:
    model = LogisticRegression()
    model.coef_, model.intercept_ = arrays[f"{prefix}_coef"], arrays[f"{prefix}_intercept"]
    model.classes_ = np.array([0, 1])
    return model


# The model for forked scoring processes: set just before the pool starts, inherited copy-on-write (the pattern
# of recommendations/ml/build.py).
_SHARED: dict = {}


def _raw_part(args: tuple) -> np.ndarray:
    return _SHARED["model"].raw(*args)


def _worker_start() -> None:
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # one process per core: no BLAS threads on top


def _can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods() and not multiprocessing.current_process().daemon


class SentimentScorer:
    """`SentimentModel.raw` over many reviews, `part` reviews at a time, on `workers` forked processes (0: one per
    core) that hold the model copy-on-write; in this process when there is one worker, one part, or no fork.
    Parts are independent, so the result is the same either way. Use as a context manager (the pool is closed on
    exit); the pool starts at the first call with more than one part."""

    def __init__(self, model: SentimentModel, *, workers: int = 0, part: int = 2_000):
        self.model, self.part = model, max(int(part), 1)
        self.workers = int(workers) or os.cpu_count() or 1
        self._pool = None

    def __enter__(self) -> SentimentScorer:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if self._pool is not None:
            if kind is None:
                self._pool.close()
            else:
                self._pool.terminate()
            self._pool.join()
            self._pool = None
            _SHARED.clear()

    def raw(self, texts: np.ndarray, *, unrated: np.ndarray, fixed: np.ndarray | None = None,
            exclude: np.ndarray | None = None) -> np.ndarray:
        bounds = [(a, min(a + self.part, len(texts))) for a in range(0, len(texts), self.part)]
        parts = ((texts[a:b], unrated[a:b], None if fixed is None else fixed[a:b],
                  None if exclude is None else exclude[a:b]) for a, b in bounds)
        if len(bounds) > 1 and self.workers > 1 and self._pool is None and _can_fork():
            _SHARED["model"] = self.model
            self._pool = multiprocessing.get_context("fork").Pool(min(self.workers, len(bounds)),
                                                                  initializer=_worker_start)
        if self._pool is not None and len(bounds) > 1:
            results = list(self._pool.imap(_raw_part, parts))
        else:
            results = [self.model.raw(*args) for args in parts]
        return np.concatenate(results) if results else np.empty(0)


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
    calibrator = _platt(chosen_oof, y_cv)  # the one the saved model uses
    # The reported metrics calibrate each fold with a Platt fitted on the other folds: a review's probability
    # then comes from a model and a calibration that never saw its stars (one fitted on all the out-of-fold
    # scores would tune the 0.5 threshold on the very reviews it is measured on).
    held_out = np.zeros(len(cv_rows))
    for f in range(folds):
        rows = fold_of == f
        held_out[rows] = _platt_apply(_platt(chosen_oof[~rows], y_cv[~rows]), chosen_oof[rows])
    cv_metrics = _metrics(y_cv, held_out)
    clock.lap("selection")

    # Fit on every rated review (up to max_train): the model saved and used for reviews imported later.
    models = _Models(texts[train], y[train].astype(int), config)
    local = _TopicModels(texts[train], y[train].astype(int), topic[train], config) if mix else None
    platt = (float(calibrator.coef_[0, 0]), float(calibrator.intercept_[0]))
    model = SentimentModel(models=models, chosen=chosen, topic_weight=mix, local=local, topics=topics,
                           neighbour_weight=alpha, pool_x=topics.transform(texts[pool]), pool_values=np.empty(0),
                           platt=platt, knn_k=config.knn_k, neutral_low=config.neutral_low,
                           neutral_high=config.neutral_high)
    clock.lap("training")
    # Rated reviews cross-validated keep their out-of-fold score; other rated ones are scored by a model that
    # saw them only when beyond max_cv (big shops, where one review weighs little).
    fixed = np.full(len(texts), np.nan)
    fixed[cv_rows] = oof[chosen] if not mix else _mix(oof[chosen], oof_topic, mix)
    unrated = np.isnan(y)
    position = np.full(len(texts), -1)
    position[pool] = np.arange(len(pool))
    # The neighbours' pool first (stars for rated reviews, the model's score for the others), then one pass over
    # every review: scores, and the unrated ones smoothed with their neighbours (never themselves). Two pools of
    # processes: the second forks once the pool's values are in the model.
    with SentimentScorer(model, workers=config.workers, part=config.part) as scorer:
        pool_raw = scorer.raw(texts[pool], unrated=np.zeros(len(pool), dtype=bool), fixed=fixed[pool])
    model.pool_values = np.where(np.isnan(y[pool]), pool_raw, y[pool]).astype(np.float32)
    with SentimentScorer(model, workers=config.workers, part=config.part) as scorer:
        raw = scorer.raw(texts, unrated=unrated, fixed=fixed, exclude=position)
    clock.lap("scoring")
    probability = model.calibrate(raw)
    sentiment = _three_classes(probability, stars, config.neutral_low, config.neutral_high)
    metrics = {
        "rated": int(len(labelled)), "trained_on": int(len(train)), "cross_validated_on": int(len(cv_rows)),
        "folds": int(folds), "model": chosen, "topic_weight": mix, "neighbour_weight": alpha, "cv": cv_metrics,
        "peer_cv": _metrics(y_cv, peer), "peer": "char 1-3-gram TF-IDF + logistic regression",
        "candidates_cv_roc_auc": candidates, "seconds": clock.laps,
    }
    statement = _model_statement(rated=len(labelled), positives=int((y[labelled] == 1).sum()),
                                 measured=len(cv_rows), folds=folds, accuracy=cv_metrics["accuracy"],
                                 peer_accuracy=metrics["peer_cv"]["accuracy"])
    return SentimentResult(positive_probability=probability, sentiment=sentiment, language=language,
                           method="model", metrics=metrics, statement=statement, model=model)


# Agreement with the stars at or above this, measured on reviews held out, means the words give the stars away.
TOO_GOOD_ACCURACY = 0.98


def _model_statement(*, rated: int, positives: int, measured: int, folds: int, accuracy: float,
                     peer_accuracy: float) -> str:
    """The analysis in a marketer's words: how many reviews it learned from, and how often its verdict agreed
    with the stars of reviews it had not seen (cross-validation's held-out folds). ROC AUC and the other
    metrics stay in `metrics` for analysts."""
    text = (f"Sentiment learned from {rated:,} rated reviews ({positives:,} with 4-5 stars, {rated - positives:,} "
            f"with 1-2). Tested on {measured:,} of them, each read by a model trained without it ({folds}-fold "
            f"cross-validation), its verdict agreed with the star rating for {accuracy:.1%} "
            f"(a plain character n-gram model: {peer_accuracy:.1%}).")
    if accuracy >= TOO_GOOD_ACCURACY:
        text += (" Agreement this close means these reviews' words give their stars away (as in simulated or "
                 "templated reviews); expect less on reviews written freely.")
    return text


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


def _three_classes(probability: np.ndarray, stars: np.ndarray, low: float, high: float) -> np.ndarray:
    labels = np.select([probability >= high, probability <= low,
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
    sentiment = _three_classes(probability, stars, config.neutral_low, config.neutral_high)
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
