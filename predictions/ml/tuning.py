"""A bounded, deterministic hyperparameter search on the validation split (optuna's seeded TPE sampler).

The caller gives an objective that fits one setting on the training rows and returns its validation score
(the rows of the validation cutoff; the backtest's test window never reaches a model's `fit`, so it cannot
reach the objective either). The search:

- first evaluates the fixed settings the caller enqueues (LightGBM: `gbm.PARAM_CANDIDATES`), so the best
  setting found is never worse on validation than the fixed grid;
- then lets a TPE sampler seeded with `seed` propose the rest, up to `trials` in all;
- is stopped early only by `seconds` (a wall-clock guard: a search that hits it depends on the machine's
  speed, so `TuneSummary.stopped_by_time` says so; the enqueued settings always run to the end);
- keeps everything in memory (optuna's in-memory storage; no database of its own).

Same data, same seed, same trial count and no time stop: the same trials, the same choice.
Pure ML code: no Django here.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# LightGBM's main hyperparameters and their ranges (log scale where the effect is multiplicative). The fixed
# settings of gbm.PARAM_CANDIDATES lie inside them, so they can be enqueued as trials.
LGBM_SPACE: dict[str, tuple[str, float, float]] = {
    "num_leaves": ("int_log", 4, 127),
    "learning_rate": ("float_log", 0.01, 0.2),
    "min_data_in_leaf": ("int_log", 10, 800),
    "feature_fraction": ("float", 0.4, 1.0),
    "bagging_fraction": ("float", 0.4, 1.0),
    "lambda_l2": ("float_log", 1e-3, 100.0),
}
# A trial must beat the best so far by more than this on validation AUC to replace it (ties keep the earlier
# trial, so the fixed grid's choice stands unless the search finds clearly better).
MIN_GAIN = 1e-4
# TPE's random start-up trials, at most (fewer when the search is short: a third of its proposed trials).
STARTUP_TRIALS = 10


@dataclass(frozen=True)
class TuneSummary:
    """What the search did (saved with the model): trials asked and run, seconds, the chosen trial."""

    trials: int
    trials_run: int
    seconds: float
    stopped_by_time: bool
    seed: int
    best_trial: int
    best_value: float | None
    grid_best_value: float | None
    values: tuple[float | None, ...] = ()


@dataclass(frozen=True)
class TuneResult:
    params: dict[str, Any]
    value: float | None
    extra: Any
    summary: TuneSummary


def suggest(trial: Any, space: Mapping[str, tuple[str, float, float]]) -> dict[str, Any]:
    """One setting drawn by `trial` from `space` (name -> (kind, low, high))."""
    out: dict[str, Any] = {}
    for name, (kind, low, high) in space.items():
        if kind == "int_log":
            out[name] = trial.suggest_int(name, int(low), int(high), log=True)
        elif kind == "int":
            out[name] = trial.suggest_int(name, int(low), int(high))
        elif kind == "float_log":
            out[name] = trial.suggest_float(name, float(low), float(high), log=True)
        else:
            out[name] = trial.suggest_float(name, float(low), float(high))
    return out


def search(
    objective: Callable[[dict[str, Any]], tuple[float | None, Any]],
    *,
    space: Mapping[str, tuple[str, float, float]],
    enqueue: Sequence[dict[str, Any]],
    trials: int,
    seconds: float,
    seed: int,
) -> TuneResult:
    """Maximise `objective(params) -> (score or None, anything to keep)` over `space`.

    The `enqueue` settings (full settings of `space`'s keys) are evaluated first and in order; then TPE
    proposes settings until `trials` have run in all or `seconds` have passed. The result is the first
    enqueued setting unless a later trial beats the best so far by more than MIN_GAIN; only the best trial's
    `extra` is kept (a fitted model, say), so memory does not grow with the trial count.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    proposed = max(0, trials - len(enqueue))
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(1, min(STARTUP_TRIALS, proposed // 3)))
    study = optuna.create_study(direction="maximize", sampler=sampler)  # in memory: no storage given
    for setting in enqueue:
        study.enqueue_trial({k: setting[k] for k in space})
    best: dict[str, Any] = {"index": -1, "value": None, "params": None, "extra": None}
    values: list[float | None] = []

    def run(trial: Any) -> float:
        params = suggest(trial, space)
        value, extra = objective(params)
        values.append(value)
        better = value is not None and (best["value"] is None or value > best["value"] + MIN_GAIN)
        if better or best["index"] < 0:
            best.update(index=trial.number, value=value, params=params, extra=extra)
        # optuna needs a number; a setting with no score ranks last
        return float(value) if value is not None and math.isfinite(value) else -1.0

    started = time.perf_counter()
    study.optimize(run, n_trials=len(enqueue))  # the fixed grid always runs in full
    grid_best = best["value"]
    stopped = False
    if proposed:
        left = seconds - (time.perf_counter() - started)
        if left > 0:
            study.optimize(run, n_trials=proposed, timeout=left)
        stopped = len(values) < len(enqueue) + proposed
    summary = TuneSummary(
        trials=max(trials, len(enqueue)),
        trials_run=len(values),
        seconds=round(time.perf_counter() - started, 2),
        stopped_by_time=stopped,
        seed=seed,
        best_trial=int(best["index"]),
        best_value=best["value"],
        grid_best_value=grid_best,
        values=tuple(values),
    )
    if stopped:
        logging.getLogger("ecomsight.training").info("hyperparameter search stopped by its %s s guard after %d "
                                                     "of %d trials", seconds, len(values), summary.trials)
    return TuneResult(params=dict(best["params"]), value=best["value"], extra=best["extra"], summary=summary)
