"""The learned offer policy: a reward model per offer over the customer's features, turned into a choice with
exploration and a random control share; its cross-fitted off-policy evaluation.

Why in-house (scikit-learn logistic / ridge per offer, or LightGBM per offer) and not Vowpal Wabbit's
`cb_explore_adf`: a shop's logs hold thousands of assignments, not millions, so VW's online learning buys
nothing over a batch fit; the per-offer models must be stored as plain JSON/text (CONVENTIONS: no pickles), be
read by the API in process without a VW binary, and be reused as the doubly robust estimator's reward model.
VW's wheels are also not in our package mirror's pinned set. Logistic regression is the default: on a few
thousand rows per offer it beats a boosted model whose leaves need many rows (bench/offers.py measures both).

Exploration: with probability `control_share` (default 10 %) the offer is drawn uniformly from the eligible
offers (the random control that keeps future evaluations possible and measures lift); otherwise ε-greedy
(the best offer by the reward model, ε spread uniformly) or a softmax over the predicted rewards. The
probability of the chosen offer is returned so it can be logged as its propensity.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np

MIN_ROWS = 20  # fewer rows of an offer (or one class only): its reward model is the offer's mean


@dataclass(frozen=True)
class PolicyConfig:
    """How predicted rewards become choice probabilities."""

    epsilon: float = 0.05
    control_share: float = 0.10
    exploration: str = "epsilon_greedy"  # or "softmax"
    temperature: float = 0.05  # softmax: in reward units


@dataclass(frozen=True)
class RewardModelConfig:
    """`algorithm`: "logistic" (conversion) / "ridge" (net revenue) per offer, or "lightgbm" per offer."""

    algorithm: str = "linear"
    binary: bool = True
    c: float = 1.0
    seed: int = 0


@dataclass(frozen=True)
class RewardModel:
    """One reward model per action over standardised features (a column's NaN is its training median)."""

    algorithm: str
    binary: bool
    features: tuple[str, ...]
    n_actions: int
    medians: np.ndarray
    means: np.ndarray
    scales: np.ndarray
    # Per action: ("const", value) | ("linear", intercept, coef list) | ("lightgbm", model text)
    models: tuple = field(repr=False)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted reward of every action for every row: an (n, n_actions) array."""
        z = _standardise(x, self.medians, self.means, self.scales)
        out = np.empty((len(z), self.n_actions))
        for a, model in enumerate(self.models):
            if model[0] == "const":
                out[:, a] = model[1]
            elif model[0] == "linear":
                eta = model[1] + z @ np.asarray(model[2])
                out[:, a] = 1 / (1 + np.exp(-eta)) if self.binary else eta
            else:
                out[:, a] = _lightgbm_booster(model[1]).predict(z)
        return out

    def to_json(self) -> dict:
        """A JSON document (stored in the database) that `reward_model_from_json` reads back."""
        return {"algorithm": self.algorithm, "binary": self.binary, "features": list(self.features),
                "n_actions": self.n_actions, "medians": _floats(self.medians), "means": _floats(self.means),
                "scales": _floats(self.scales), "models": [list(m) for m in self.models]}


def _floats(values) -> list:
    return [None if not math.isfinite(v) else float(v) for v in np.asarray(values, dtype=float)]


def reward_model_from_json(document: dict) -> RewardModel:
    """The reward model saved by `RewardModel.to_json`."""
    def arr(values):
        return np.array([np.nan if v is None else v for v in values], dtype=float)
    return RewardModel(algorithm=document["algorithm"], binary=document["binary"],
                       features=tuple(document["features"]), n_actions=document["n_actions"],
                       medians=arr(document["medians"]), means=arr(document["means"]),
                       scales=arr(document["scales"]), models=tuple(tuple(m) for m in document["models"]))


_BOOSTERS: dict[int, object] = {}


def _lightgbm_booster(text: str):
    import lightgbm as lgb

    key = hash(text)
    if key not in _BOOSTERS:
        if len(_BOOSTERS) > 64:
            _BOOSTERS.clear()
        _BOOSTERS[key] = lgb.Booster(model_str=text)
    return _BOOSTERS[key]


def _standardise(x: np.ndarray, medians, means, scales) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    x = np.where(np.isnan(x), medians, x)
    return (x - means) / scales


def reward_model_fit(*, x: np.ndarray, action: np.ndarray, reward: np.ndarray, n_actions: int,
                     features: tuple[str, ...], config: RewardModelConfig | None = None) -> RewardModel:
    """Fit one reward model per action on the rows where that action was logged (the direct method).

    Logistic regression for a binary reward, ridge regression otherwise ("linear"), or LightGBM per action
    ("lightgbm", small trees, many rows per leaf). An action with fewer than MIN_ROWS rows, or a single
    outcome, gets its mean (or the overall mean when it has no row)."""
    from sklearn.linear_model import LogisticRegression, Ridge

    config = config or RewardModelConfig()
    x = np.asarray(x, dtype=float)
    action = np.asarray(action)
    reward = np.asarray(reward, dtype=float)
    seen = ~np.isnan(x)
    medians = np.array([np.median(x[seen[:, j], j]) if seen[:, j].any() else 0.0 for j in range(x.shape[1])])
    filled = np.where(np.isnan(x), medians, x)
    means = filled.mean(axis=0) if len(x) else np.zeros(x.shape[1])
    scales = filled.std(axis=0) if len(x) else np.ones(x.shape[1])
    scales = np.where(scales > 1e-12, scales, 1.0)
    z = (filled - means) / scales
    overall = float(reward.mean()) if len(reward) else 0.0
    models = []
    for a in range(n_actions):
        rows = action == a
        ra = reward[rows]
        if rows.sum() < MIN_ROWS or (config.binary and len(np.unique(ra)) < 2):
            models.append(("const", float(ra.mean()) if len(ra) else overall))
            continue
        if config.algorithm == "lightgbm":
            import lightgbm as lgb

            params = {"objective": "binary" if config.binary else "regression", "learning_rate": 0.05,
                      "num_leaves": 7, "min_data_in_leaf": max(20, int(rows.sum()) // 50), "lambda_l2": 1.0,
                      "verbose": -1, "seed": config.seed, "num_threads": 1, "deterministic": True}
            booster = lgb.train(params, lgb.Dataset(z[rows], ra), num_boost_round=150)
            models.append(("lightgbm", booster.model_to_string()))
        elif config.binary:
            model = LogisticRegression(C=config.c, max_iter=500).fit(z[rows], ra.astype(int))
            models.append(("linear", float(model.intercept_[0]), model.coef_[0].tolist()))
        else:
            model = Ridge(alpha=1.0 / config.c).fit(z[rows], ra)
            models.append(("linear", float(model.intercept_), model.coef_.tolist()))
    return RewardModel(algorithm=config.algorithm, binary=config.binary, features=tuple(features),
                       n_actions=n_actions, medians=medians, means=means, scales=scales, models=tuple(models))


def policy_probabilities(*, predicted: np.ndarray, eligible: np.ndarray | None = None,
                         config: PolicyConfig | None = None) -> np.ndarray:
    """Choice probabilities over actions for every row (rows sum to 1; ineligible actions get 0).

    Control share uniform over the eligible actions, the rest ε-greedy on (or a softmax over) the predicted
    rewards. A row with no eligible action falls back to all actions."""
    config = config or PolicyConfig()
    predicted = np.asarray(predicted, dtype=float)
    n, k = predicted.shape
    eligible = np.ones((n, k), dtype=bool) if eligible is None else np.asarray(eligible, dtype=bool).copy()
    eligible[~eligible.any(axis=1)] = True
    count = eligible.sum(axis=1, keepdims=True)
    uniform = eligible / count
    masked = np.where(eligible, predicted, -np.inf)
    if config.exploration == "softmax":
        scaled = (masked - masked.max(axis=1, keepdims=True)) / max(config.temperature, 1e-12)
        expo = np.where(eligible, np.exp(scaled), 0.0)
        learned = expo / expo.sum(axis=1, keepdims=True)
    else:
        greedy = np.zeros((n, k))
        greedy[np.arange(n), masked.argmax(axis=1)] = 1.0
        learned = (1 - config.epsilon) * greedy + config.epsilon * uniform
    return config.control_share * uniform + (1 - config.control_share) * learned


def policy_sample(*, probabilities: np.ndarray, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Draw one action per row from `probabilities`; returns (actions, their probabilities = propensities)."""
    rng = np.random.default_rng(seed)
    cumulative = np.cumsum(probabilities, axis=1)
    draws = rng.random(len(probabilities))[:, None] * cumulative[:, -1:]
    actions = np.minimum((draws > cumulative).sum(axis=1), probabilities.shape[1] - 1)
    return actions, probabilities[np.arange(len(actions)), actions]


@dataclass(frozen=True)
class CrossFit:
    """Held-out predictions: for each row, the reward model and the policy fitted on the other folds."""

    predicted: np.ndarray  # (n, K) predicted rewards of every action
    probabilities: np.ndarray  # (n, K) the learned policy's choice probabilities
    folds: np.ndarray  # the fold of each row


def cross_fit(*, x: np.ndarray, action: np.ndarray, reward: np.ndarray, n_actions: int,
              features: tuple[str, ...], eligible: np.ndarray | None = None, n_folds: int = 2,
              reward_config: RewardModelConfig | None = None,
              policy_config: PolicyConfig | None = None) -> CrossFit:
    """Cross-fitting over contiguous blocks of rows (pass rows in time order: each block is a time period):
    every row's predicted rewards and policy probabilities come from models fitted without that row, so the
    learned policy is only ever evaluated on assignments it was not trained on."""
    n = len(action)
    folds = np.minimum((np.arange(n) * n_folds) // max(n, 1), n_folds - 1)
    predicted = np.zeros((n, n_actions))
    for fold in range(n_folds):
        test = folds == fold
        model = reward_model_fit(x=x[~test], action=action[~test], reward=reward[~test], n_actions=n_actions,
                                 features=features, config=reward_config)
        predicted[test] = model.predict(x[test])
    probabilities = policy_probabilities(predicted=predicted, eligible=eligible, config=policy_config)
    return CrossFit(predicted=predicted, probabilities=probabilities, folds=folds)


def policy_json(*, model: RewardModel, config: PolicyConfig) -> str:
    """The policy as one JSON text (reward model + exploration)."""
    return json.dumps({"reward_model": model.to_json(), "epsilon": config.epsilon,
                       "control_share": config.control_share, "exploration": config.exploration,
                       "temperature": config.temperature})
