"""LightGBM gradient-boosted trees on the static features X.

Why these choices:
- Trees read NaN natively (a customer with one order has no mean gap), so X is passed as is.
- Class imbalance: `scale_pos_weight = negatives / positives` (capped) makes the rare class count
  during training; it distorts the raw probabilities, so they are re-calibrated on the validation
  split (see calibration.py) and early stopping watches AUC, which the weighting does not bias.
- Early stopping on validation (50 rounds patience, at most 1,000 rounds, learning rate 0.05),
  leaves of at least 50 rows and feature / row bagging keep the trees from memorising small shops.
- Big shops: at most 400k rows are bagged per tree, which bounds the time per round.
- Two settings are tried on the validation split and the higher validation AUC (at each one's best round)
  is kept: the default trees above and small, slow, heavily regularised ones (`PARAM_CANDIDATES`). Small
  shops with few, noisy rows (real orders-only shops) favour the latter; the search is a fixed grid, not a
  timed one, so the same data gives the same model; above `SEARCH_MAX_ROWS` training rows only the default
  is fitted (it bounds the training time of big shops).
- With `tune_trials` > 0 (the TUNE_TRIALS setting), a bounded search (tuning.py: optuna's seeded TPE sampler,
  in memory) of the main hyperparameters (tuning.LGBM_SPACE: leaves, learning rate with the rounds set by early
  stopping, rows per leaf, feature and row bagging, L2) runs on the same training / validation split instead:
  the PARAM_CANDIDATES settings are its first trials, so it cannot choose worse on validation than the grid.
  `tune_seconds` is a wall-clock guard only. Skipped (the grid only) above SEARCH_MAX_ROWS training rows and
  when validation holds fewer than MIN_TUNE_CLASS_ROWS positives or negatives: a validation AUC measured on
  a few hundred positives moves by more than the settings differ, so a search would pick noise. The trials
  run on one thread (TUNE_THREADS). **Off by default** (TUNE_TRIALS=0): with 30 trials it raised the
  validation AUC by 0.0004-0.0019 on the CD shop and the simulator, but the test windows moved within
  run-to-run noise, for 10-90 s more per fit (docs/status/issue-19-session7-optuna.md).
- `deterministic=True`, `force_col_wise`, fixed seeds and 2 threads: the same data gives the same
  model on any run of the same machine type, which the champion comparison relies on.

Artifacts: `model.txt` (LightGBM's text format), `calibrator.json`, `metadata.json`.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.special import expit

from predictions.ml.artifacts import (
    CALIBRATOR_FILE,
    check_meta,
    read_json,
    read_metadata,
    require_columns,
    write_json,
    write_metadata,
)
from predictions.ml.base import ModelInput, training_labels
from predictions.ml.calibration import Calibrator, fit_calibrator
from predictions.ml.tuning import LGBM_SPACE
from predictions.ml.tuning import search as tune_search

MODEL_FILE = "model.txt"
logger = logging.getLogger("ecomsight.training")
# A positive rate of 0.5 % would otherwise give a weight of 200, which makes the trees chase noise.
MAX_SCALE_POS_WEIGHT = 50.0
# Rows sampled per tree are capped so one round costs the same from ~500k rows up: this bounds the
# training time of big shops (800k rows x 30 features in about a minute on 2 cores) deterministically,
# unlike a wall-clock budget, which would make the model depend on machine load.
MAX_BAGGED_ROWS = 400_000

# Above this many training rows only the default settings are fitted.
SEARCH_MAX_ROWS = 300_000
# The search (tune_trials > 0) runs only when validation holds at least this many positives and negatives.
MIN_TUNE_CLASS_ROWS = 200
# The search's trials run on one thread: on the shared 2-core machine at load ~6.6, one fit of 47k rows took
# 1.1 s on one thread and 23.8 s on two (OpenMP threads spin waiting for a busy core), with the same trees.
TUNE_THREADS = 1
# The most threads a fit or a prediction uses in this process (None: the params' num_threads, 2): a worker
# process sharing its machine's cores with other workers is limited with threads_limit (ML_THREADS).
_thread_limit: int | None = None


def threads_limit(threads: int | None) -> None:
    """At most `threads` threads for every LightGBM fit and prediction of this process from now on (None: no
    limit). For worker processes sharing cores: two workers' fits of two threads each on two cores ran
    slower than one worker's (OpenMP threads spin while they wait for a core; see TUNE_THREADS)."""
    global _thread_limit
    _thread_limit = max(1, int(threads)) if threads else None


def _threads(wanted: int) -> int:
    return min(wanted, _thread_limit) if _thread_limit else wanted

DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 50,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "max_bin": 255,
    "num_threads": 2,
    "deterministic": True,
    "force_col_wise": True,
    "verbosity": -1,
}
# Settings tried on the validation split (name -> overrides of the defaults), the first being the default.
PARAM_CANDIDATES: dict[str, dict[str, Any]] = {
    "default": {},
    "small": {"num_leaves": 7, "min_data_in_leaf": 200, "learning_rate": 0.02},
}


@dataclass(frozen=True)
class GbmTrainingSummary:
    """What the fit did: rounds kept, the weight given to positives, the calibration method."""

    best_iteration: int
    rounds_run: int
    scale_pos_weight: float
    calibration: str
    valid_auc_raw: float | None
    # The PARAM_CANDIDATES entry validation chose, and each tried one's validation AUC.
    settings: str = "default"
    candidates_auc: dict[str, float | None] | None = None
    # The search's record (tuning.TuneSummary as a dict) when one ran; "search" in `settings` when it chose a
    # setting outside the grid. None: the grid only (tune_trials 0, or the shop too big or its validation too small).
    tuning: dict[str, Any] | None = None
    # Why a requested search did not run (None when it ran or none was requested).
    tuning_skipped: str | None = None


class LightGbmModel:
    """Model protocol implementation with LightGBM; `task` is "churn" or "purchase" (recorded only)."""

    algorithm = "lgbm"

    def __init__(
        self,
        task: str,
        *,
        seed: int = 0,
        params: dict[str, Any] | None = None,
        num_boost_round: int = 1000,
        early_stopping_rounds: int = 50,
        search: bool | None = None,
        tune_trials: int = 0,
        tune_seconds: float = 300.0,
    ) -> None:
        self.task = task
        # tune_trials > 0: the bounded search (tuning.py) instead of the fixed grid, with this many trials in all.
        self.tune_trials = int(tune_trials)
        self.tune_seconds = float(tune_seconds)
        # Explicit params are used as given; otherwise PARAM_CANDIDATES are tried on validation.
        self.search = params is None if search is None else search
        self.seed = seed
        self.params = {**DEFAULT_PARAMS, **(params or {})}
        self.num_boost_round = num_boost_round
        self.early_stopping_rounds = early_stopping_rounds
        self.features: list[str] = []
        self.booster: lgb.Booster | None = None
        self.calibrator: Calibrator | None = None
        self.summary: GbmTrainingSummary | None = None

    # ----------------------------------------------------------------------------------- training
    def _train_params(self, y_train: np.ndarray, y_valid: np.ndarray,
                      base: dict[str, Any] | None = None) -> dict[str, Any]:
        base = self.params if base is None else base
        n_pos = float(y_train.sum())
        n_neg = float(len(y_train) - n_pos)
        scale = float(np.clip(n_neg / n_pos, 1.0, MAX_SCALE_POS_WEIGHT)) if n_pos > 0 else 1.0
        both_classes = 0 < y_valid.sum() < len(y_valid)
        bagging = min(float(base.get("bagging_fraction", 0.8)), MAX_BAGGED_ROWS / max(len(y_train), 1))
        return {
            **base,
            "bagging_fraction": bagging,
            "scale_pos_weight": base.get("scale_pos_weight", scale),
            # AUC is unaffected by the class weight; it is undefined with one class in validation.
            "metric": ["auc"] if both_classes else ["binary_logloss"],
            "seed": self.seed,
            "bagging_seed": self.seed,
            "feature_fraction_seed": self.seed,
            "data_random_seed": self.seed,
        }

    def fit(self, train: ModelInput, valid: ModelInput) -> None:
        """Train on `train` with early stopping on `valid` (each candidate setting, or the search's trials; the
        best validation AUC is kept, ties to the earlier setting), then calibrate on `valid`."""
        y_train, y_valid = training_labels(train, valid)
        self.features = [str(c) for c in train.X.columns]
        require_columns(valid.X.columns, self.features)
        x_train, x_valid = self._matrix(train.X), self._matrix(valid.X)
        both_classes = 0 < y_valid.sum() < len(y_valid)
        names = ["default"]
        if self.search and both_classes and len(y_train) <= SEARCH_MAX_ROWS:
            names = list(PARAM_CANDIDATES)
        skipped = self._tuning_skipped(y_train, y_valid)
        tuning = None
        if self.tune_trials > 0 and skipped is None:
            grid = [{**self.params, **PARAM_CANDIDATES[name]} for name in names]

            def objective(overrides: dict[str, Any]) -> tuple[float | None, tuple]:
                setting = {**self.params, **overrides, "num_threads": TUNE_THREADS}
                fitted = self._fit_one(setting, x_train, x_valid, y_train, y_valid)
                return fitted[4], fitted

            result = tune_search(objective, space=LGBM_SPACE, enqueue=grid, trials=self.tune_trials,
                                 seconds=self.tune_seconds, seed=self.seed)
            booster, params, best, history, auc = result.extra
            chosen = names[result.summary.best_trial] if result.summary.best_trial < len(names) else "search"
            candidates = {name: result.summary.values[i] for i, name in enumerate(names)}
            if chosen == "search":
                candidates["search"] = auc
            self.params = {**self.params, **result.params, "num_threads": TUNE_THREADS}
            tuning = asdict(result.summary)
            logger.info("lgbm %s: search chose %s, validation AUC %.4f (grid %.4f), %d of %d trials in %.1f s",
                        self.task, chosen, auc or float("nan"), result.summary.grid_best_value or float("nan"),
                        result.summary.trials_run, result.summary.trials, result.summary.seconds)
        else:
            tried = {name: self._fit_one({**self.params, **PARAM_CANDIDATES.get(name, {})}, x_train, x_valid,
                                         y_train, y_valid) for name in names}
            chosen = names[0]
            for name in names[1:]:
                auc, best_auc = tried[name][4], tried[chosen][4]
                if auc is not None and best_auc is not None and auc > best_auc + 1e-4:
                    chosen = name
            booster, params, best, history, auc = tried[chosen]
            candidates = {name: item[4] for name, item in tried.items()}
            self.params = {**self.params, **PARAM_CANDIDATES.get(chosen, {})}
        self.booster = booster
        raw_valid = self._raw(valid.X, num_iteration=best)
        self.calibrator = fit_calibrator(raw_valid, y_valid)
        self.summary = GbmTrainingSummary(
            best_iteration=int(best),
            rounds_run=len(history),
            scale_pos_weight=float(params["scale_pos_weight"]),
            calibration=self.calibrator.method,
            valid_auc_raw=auc,
            settings=chosen,
            candidates_auc=candidates,
            tuning=tuning,
            tuning_skipped=skipped if self.tune_trials > 0 else None,
        )

    def _tuning_skipped(self, y_train: np.ndarray, y_valid: np.ndarray) -> str | None:
        """Why the search would not run on these rows (None: it can)."""
        if not self.search:
            return "explicit parameters"
        if len(y_train) > SEARCH_MAX_ROWS:
            return f"more than {SEARCH_MAX_ROWS:,} training rows"
        positives = int(y_valid.sum())
        if min(positives, len(y_valid) - positives) < MIN_TUNE_CLASS_ROWS:
            return f"fewer than {MIN_TUNE_CLASS_ROWS} validation positives or negatives"
        return None

    def _fit_one(self, base: dict[str, Any], x_train: np.ndarray, x_valid: np.ndarray, y_train: np.ndarray,
                 y_valid: np.ndarray) -> tuple[lgb.Booster, dict[str, Any], int, list, float | None]:
        """One setting trained with early stopping on validation: (booster, its params with the class weight,
        best round, the validation history, validation AUC at the best round or None)."""
        params = self._train_params(y_train, y_valid, base)
        params["num_threads"] = _threads(int(params.get("num_threads", DEFAULT_PARAMS["num_threads"])))
        # A Dataset per setting: its binning and pre-filtering depend on the setting (min_data_in_leaf).
        dtrain = lgb.Dataset(x_train, label=y_train, feature_name=self.features, free_raw_data=False)
        dvalid = lgb.Dataset(x_valid, label=y_valid, reference=dtrain)
        evals: dict[str, Any] = {}
        booster = lgb.train(
            params,
            dtrain,
            num_boost_round=self.num_boost_round,
            valid_sets=[dvalid],
            valid_names=["valid"],
            callbacks=[
                lgb.early_stopping(self.early_stopping_rounds, first_metric_only=True, verbose=False),
                lgb.record_evaluation(evals),
            ],
        )
        best = booster.best_iteration or booster.current_iteration()
        history = next(iter(evals.get("valid", {}).values()), [])
        auc_history = evals.get("valid", {}).get("auc")
        auc = float(auc_history[best - 1]) if auc_history else None
        return booster, {**base, "scale_pos_weight": params["scale_pos_weight"]}, best, history, auc

    def describe(self) -> dict[str, Any]:
        """The chosen hyperparameters and how they were chosen, for the model's page (JSON-ready)."""
        summary = self.summary
        tuning = summary.tuning if summary else None
        return {
            "settings": summary.settings if summary else None,
            "params": {name: self.params.get(name) for name in LGBM_SPACE},
            "best_iteration": summary.best_iteration if summary else None,
            "valid_auc": summary.valid_auc_raw if summary else None,
            "search": None if not tuning else {k: tuning[k] for k in ("trials", "trials_run", "seconds",
                                                                       "stopped_by_time", "seed", "best_trial")},
            "search_skipped": summary.tuning_skipped if summary else None,
        }

    # ---------------------------------------------------------------------------------- inference
    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        """X's columns in training order as a float32 matrix (NaN kept)."""
        return np.ascontiguousarray(X[self.features].to_numpy(dtype=np.float32, na_value=np.nan))

    def _raw(self, X: pd.DataFrame, *, num_iteration: int | None = None) -> np.ndarray:
        if self.booster is None:
            raise RuntimeError("model is not fitted")
        require_columns(X.columns, self.features)
        iteration = num_iteration if num_iteration is not None else self._best_iteration()
        return self.booster.predict(self._matrix(X), num_iteration=iteration, num_threads=self._predict_threads())

    def _predict_threads(self) -> int:
        return _threads(int(self.params.get("num_threads", DEFAULT_PARAMS["num_threads"])))

    def _best_iteration(self) -> int | None:
        if self.summary is not None:
            return self.summary.best_iteration
        return None  # a loaded model was saved with its best iteration only

    def predict_proba(self, data: ModelInput) -> np.ndarray:
        """Calibrated probability of the positive class for each row of `data.X`."""
        raw = self._raw(data.X)
        assert self.calibrator is not None
        return self.calibrator.apply(raw)

    def contributions(self, data: ModelInput) -> np.ndarray:
        """Per-feature SHAP contributions (log-odds of the uncalibrated model), shape [rows, features].

        The bias column LightGBM appends is dropped; columns follow `self.features`. Calibration is
        monotone, so a positive contribution always pushes the calibrated probability up too.
        """
        if self.booster is None:
            raise RuntimeError("model is not fitted")
        require_columns(data.X.columns, self.features)
        contrib = self.booster.predict(self._matrix(data.X), num_iteration=self._best_iteration(), pred_contrib=True,
                                       num_threads=self._predict_threads())
        return np.asarray(contrib)[:, :-1]

    def path_contributions(self, data: ModelInput) -> np.ndarray:
        """Fast per-feature contributions (Saabas path attribution), shape [rows, features].

        Each split on a row's path through a tree credits its feature with the change in the node
        value it causes; summed over trees, the contributions plus the roots' values give the raw
        score exactly, like SHAP's do with its bias. Unlike TreeSHAP (about 0.3 ms a row here) this
        is a leaf look-up per tree — scoring 200,000 customers needs seconds, not minutes — and it
        ranks the features that drive a customer's score the same way in practice, which is all the
        reasons need. Use `contributions` for exact SHAP values.
        """
        return self._paths(data)[1]

    def predict_with_paths(self, data: ModelInput) -> tuple[np.ndarray, np.ndarray]:
        """`predict_proba` and `path_contributions` from one pass through the trees: the raw score is the sum of
        the leaves' values the path contributions look up anyway (scoring needs both for every customer, and the
        trees were walked twice: the second walk was about 7 % of a 200,000-customer scoring run's CPU)."""
        raw, paths = self._paths(data)
        assert self.calibrator is not None
        return self.calibrator.apply(expit(raw)), paths  # LightGBM's binary objective: 1 / (1 + exp(-raw))

    def _paths(self, data: ModelInput) -> tuple[np.ndarray, np.ndarray]:
        """The raw score (log-odds) and the path contributions of each row, from its leaf in every tree."""
        if self.booster is None:
            raise RuntimeError("model is not fitted")
        require_columns(data.X.columns, self.features)
        tables, values = self._path_tables()
        leaves = np.asarray(
            self.booster.predict(self._matrix(data.X), num_iteration=self._best_iteration(), pred_leaf=True,
                                 num_threads=self._predict_threads())
        ).reshape(len(data.X), -1)
        out = np.zeros((len(data.X), len(self.features)), dtype=np.float64)
        raw = np.zeros(len(data.X), dtype=np.float64)
        for t, table in enumerate(tables[: leaves.shape[1]]):
            out += table[leaves[:, t]]
            raw += values[t][leaves[:, t]]
        return raw, out

    def _path_tables(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Per tree, a [leaves, features] table (what each split on the path to a leaf contributed) and the leaves'
        values."""
        cached = getattr(self, "_tables", None)
        if cached is not None:
            return cached
        n_features = len(self.features)
        tables, values = [], []
        for tree in self.booster.dump_model(num_iteration=self._best_iteration())["tree_info"]:
            table = np.zeros((max(1, tree["num_leaves"]), n_features), dtype=np.float64)
            leaf_values = np.zeros(max(1, tree["num_leaves"]), dtype=np.float64)
            stack = [(tree["tree_structure"], np.zeros(n_features))]
            while stack:
                node, path = stack.pop()
                if "leaf_index" in node or "split_feature" not in node:
                    table[node.get("leaf_index", 0)] = path
                    leaf_values[node.get("leaf_index", 0)] = node["leaf_value"]
                    continue
                for side in ("left_child", "right_child"):
                    child = node[side]
                    value = child["leaf_value"] if "leaf_value" in child else child["internal_value"]
                    step = path.copy()
                    step[node["split_feature"]] += value - node["internal_value"]
                    stack.append((child, step))
            tables.append(table)
            values.append(leaf_values)
        self._tables = tables, values
        return self._tables

    def feature_importance(self) -> dict[str, float]:
        """Total gain per feature, for the model page."""
        if self.booster is None:
            raise RuntimeError("model is not fitted")
        gains = self.booster.feature_importance(importance_type="gain", iteration=self._best_iteration())
        return {name: float(g) for name, g in zip(self.features, gains, strict=True)}

    # ------------------------------------------------------------------------------- persistence
    def save(self, directory: Path) -> None:
        """Write `model.txt` (best iteration only), `calibrator.json` and `metadata.json`."""
        if self.booster is None or self.calibrator is None:
            raise RuntimeError("model is not fitted")
        directory = Path(directory)
        config = {
            "seed": self.seed,
            "params": self.params,
            "num_boost_round": self.num_boost_round,
            "early_stopping_rounds": self.early_stopping_rounds,
            "summary": asdict(self.summary) if self.summary else None,
        }
        write_metadata(directory, algorithm=self.algorithm, task=self.task, features=self.features, config=config)
        self.booster.save_model(str(directory / MODEL_FILE), num_iteration=self._best_iteration())
        write_json(directory / CALIBRATOR_FILE, self.calibrator.to_dict())

    @classmethod
    def load(cls, directory: Path, *, expected_features: list[str]) -> LightGbmModel:
        """Load a saved model; raises `FeatureMismatch` if it was trained on other features."""
        directory = Path(directory)
        meta = read_metadata(directory, algorithm=cls.algorithm)
        check_meta(meta, expected_features)
        config = meta.config
        model = cls(
            meta.task,
            seed=int(config.get("seed", 0)),
            params=config.get("params"),
            num_boost_round=int(config.get("num_boost_round", 1000)),
            early_stopping_rounds=int(config.get("early_stopping_rounds", 50)),
        )
        model.features = list(meta.features)
        model.booster = lgb.Booster(model_file=str(directory / MODEL_FILE))
        model.calibrator = Calibrator.from_dict(read_json(directory / CALIBRATOR_FILE))
        if config.get("summary"):
            model.summary = GbmTrainingSummary(**config["summary"])
        return model
