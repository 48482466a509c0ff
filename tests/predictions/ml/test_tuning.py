"""LightGBM's bounded hyperparameter search (predictions/ml/tuning.py): validation rows only, seeded, bounded."""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import pytest

from predictions.ml import gbm, tuning
from predictions.ml.base import ModelInput
from predictions.ml.gbm import DEFAULT_PARAMS, PARAM_CANDIDATES, LightGbmModel
from predictions.ml.pipeline import TrainConfig, backtest, default_model_factories
from tests.predictions.ml.test_gbm import FEATURES, _data
from tests.predictions.ml.test_pipeline import make_shop

GRID = [{**DEFAULT_PARAMS, **PARAM_CANDIDATES[name]} for name in PARAM_CANDIDATES]


def _recording_objective(calls: list[dict], best_leaves: float = 20.0, pause: float = 0.0):
    """A cheap objective peaking at `best_leaves` leaves and learning rate 0.05; records what it was asked."""

    def objective(params: dict) -> tuple[float, dict]:
        calls.append(dict(params))
        if pause:
            time.sleep(pause)
        score = -(math.log(params["num_leaves"] / best_leaves)) ** 2 - (math.log(params["learning_rate"] / 0.05)) ** 2
        return score, {"asked": dict(params)}

    return objective


def _search(calls, *, seed=0, trials=12, seconds=60.0, **objective_args):
    return tuning.search(_recording_objective(calls, **objective_args), space=tuning.LGBM_SPACE, enqueue=GRID,
                         trials=trials, seconds=seconds, seed=seed)


def test_the_fixed_grid_runs_first_then_the_sampler_proposes_the_rest():
    calls: list[dict] = []
    result = _search(calls, trials=12)
    assert len(calls) == 12 and result.summary.trials_run == 12 and not result.summary.stopped_by_time
    for asked, setting in zip(calls[: len(GRID)], GRID, strict=True):
        assert asked == {k: setting[k] for k in tuning.LGBM_SPACE}
    assert all(asked not in calls[: len(GRID)] for asked in calls[len(GRID):])  # new settings after the grid
    for asked in calls:
        for name, (_, low, high) in tuning.LGBM_SPACE.items():
            assert low <= asked[name] <= high
    # The chosen setting is the best one asked, and it is what the objective returned for it.
    scores = result.summary.values
    assert result.value == max(scores) and result.extra["asked"] == result.params
    assert result.value >= result.summary.grid_best_value


def test_same_seed_same_trials_and_choice_other_seed_other_trials():
    first, second, other = [], [], []
    a, b, c = _search(first, seed=3), _search(second, seed=3), _search(other, seed=4)
    assert first == second and a.params == b.params and a.summary.values == b.summary.values
    assert first[len(GRID):] != other[len(GRID):]
    assert c.summary.trials_run == a.summary.trials_run


def test_the_search_never_chooses_worse_than_the_grid_and_ties_keep_the_earlier_setting():
    calls: list[dict] = []
    # The objective peaks at 31 leaves / learning rate 0.05: the grid's first setting, which must stand.
    result = _search(calls, best_leaves=31.0)
    assert result.summary.best_trial == 0 and result.params == {k: GRID[0][k] for k in tuning.LGBM_SPACE}

    flat = tuning.search(lambda params: (0.7, params), space=tuning.LGBM_SPACE, enqueue=GRID, trials=6,
                         seconds=60, seed=0)
    assert flat.summary.best_trial == 0 and flat.summary.trials_run == 6


def test_the_time_guard_stops_proposals_but_never_the_grid():
    calls: list[dict] = []
    result = _search(calls, trials=50, seconds=0.05, pause=0.05)
    assert result.summary.stopped_by_time
    assert len(GRID) <= result.summary.trials_run < 50 and len(calls) == result.summary.trials_run


# ----------------------------------------------------------------------------------------------- LightGBM
def _fit(trials: int, *, seed: int = 0, train=None, valid=None) -> LightGbmModel:
    model = LightGbmModel("churn", seed=seed, tune_trials=trials, num_boost_round=300)
    model.fit(train if train is not None else _data(2000, 1), valid if valid is not None else _data(1500, 2))
    return model


@pytest.fixture(scope="module")
def searched() -> LightGbmModel:
    return _fit(5)


def test_lightgbm_search_is_deterministic_for_a_seed_and_no_worse_than_the_grid_on_validation(searched):
    again = _fit(5)
    grid_only = _fit(0)
    test = _data(800, 3)
    assert searched.params == again.params and searched.summary.settings == again.summary.settings
    timeless = [{k: v for k, v in m.summary.tuning.items() if k != "seconds"} for m in (searched, again)]
    assert timeless[0] == timeless[1] and searched.summary.valid_auc_raw == again.summary.valid_auc_raw
    assert np.array_equal(searched.predict_proba(test), again.predict_proba(test))
    tuned = searched.summary.tuning
    assert tuned["trials_run"] == 5 and tuned["seed"] == 0 and len(tuned["values"]) == 5
    # The grid's settings were its first trials (on one thread: the same trees here as the grid's two threads).
    assert np.allclose(tuned["values"][: len(PARAM_CANDIDATES)], list(grid_only.summary.candidates_auc.values()),
                       atol=1e-9)
    assert searched.summary.valid_auc_raw >= grid_only.summary.valid_auc_raw
    assert searched.summary.valid_auc_raw == max(v for v in tuned["values"] if v is not None)


def test_tune_trials_zero_is_the_fixed_grid():
    plain, zero = LightGbmModel("churn", seed=0, num_boost_round=300), _fit(0)
    plain.fit(_data(2000, 1), _data(1500, 2))
    assert zero.summary.tuning is None and zero.summary.tuning_skipped is None
    assert zero.summary == plain.summary and zero.params == plain.params
    assert list(zero.summary.candidates_auc) == list(PARAM_CANDIDATES)
    assert np.array_equal(zero.predict_proba(_data(500, 3)), plain.predict_proba(_data(500, 3)))


def test_chosen_parameters_and_the_search_are_saved_and_described(searched, tmp_path):
    searched.save(tmp_path / "gbm")
    loaded = LightGbmModel.load(tmp_path / "gbm", expected_features=FEATURES)
    assert loaded.params == searched.params and loaded.summary.tuning["trials_run"] == 5
    described = loaded.describe()
    assert described["params"] == {name: searched.params[name] for name in tuning.LGBM_SPACE}
    assert described["search"]["trials_run"] == 5 and described["settings"] == searched.summary.settings
    test = _data(300, 4)
    assert np.allclose(loaded.predict_proba(test), searched.predict_proba(test))


def test_few_validation_positives_fall_back_to_the_grid():
    rng = np.random.default_rng(0)
    valid = _data(1500, 2)
    y = valid.y.copy()
    positives = np.flatnonzero(y == 1)
    y[rng.choice(positives, size=len(positives) - (gbm.MIN_TUNE_CLASS_ROWS - 1), replace=False)] = 0
    model = _fit(5, valid=ModelInput(valid.customer_ids, valid.X, y=y))
    assert model.summary.tuning is None and "validation positives" in model.summary.tuning_skipped
    assert model.summary.settings in PARAM_CANDIDATES and list(model.summary.candidates_auc) == list(PARAM_CANDIDATES)


# ------------------------------------------------------------------------------- the backtest's test window
class _Recording(LightGbmModel):
    """LightGBM that records the labels of every validation set a trial was scored on."""

    seen: list[np.ndarray] = []

    def _fit_one(self, base, x_train, x_valid, y_train, y_valid):
        _Recording.seen.append(np.asarray(y_valid).copy())
        return super()._fit_one(base, x_train, x_valid, y_train, y_valid)


def test_the_backtests_test_window_never_reaches_the_search(monkeypatch):
    """Rewriting everything after the backtest's cutoff changes its outcomes, not one trial of the search."""
    monkeypatch.setattr(gbm, "MIN_TUNE_CLASS_ROWS", 50)
    shop = make_shop(1500, seed=2, lines=False, events=False)
    cutoff = shop.end - pd.Timedelta(days=120)
    config = TrainConfig(task="purchase", horizon_days=90, as_of=shop.end, algorithms=("lgbm",), tune_trials=4)
    factories = {"lgbm": lambda: _Recording("purchase", seed=0, tune_trials=4, num_boost_round=200)}

    _Recording.seen = []
    first = backtest(shop.frames, config, cutoff=cutoff, model_factories=factories)
    first_seen = _Recording.seen
    f = shop.frames
    # The future rewritten: the even customers' later orders are gone, and each of them buys on its 10th day.
    kept = f.orders[(f.orders["placed_at"] <= cutoff) | (f.orders["customer_id"] % 2 == 1)]
    even = f.customers[f.customers["customer_id"] % 2 == 0]["customer_id"].to_numpy()
    burst = pd.DataFrame({"order_id": even + 10_000_000, "customer_id": even,
                          "placed_at": cutoff + pd.Timedelta(days=10), "total": 80.0, "item_count": 1.0,
                          "status": "placed"})
    changed = type(f)(customers=f.customers, orders=pd.concat([kept, burst], ignore_index=True),
                      order_lines=f.order_lines, events=f.events)
    _Recording.seen = []
    second = backtest(changed, config, cutoff=cutoff, model_factories=factories)

    one, two = first.train_result.models["lgbm"], second.train_result.models["lgbm"]
    assert one.summary.tuning is not None and one.summary.tuning["trials_run"] == 4  # the search did run
    assert one.summary.tuning["values"] == two.summary.tuning["values"] and one.params == two.params
    assert len(first_seen) == 4 and all(np.array_equal(a, b) for a, b in zip(first_seen, _Recording.seen, strict=True))
    # Every trial was scored on the validation cutoff's labels (as of cutoff - H), the ones validation reports.
    assert all(len(y) == first.train_result.valid_rows for y in first_seen)
    assert first.metrics["lgbm"] != second.metrics["lgbm"]  # the judged outcomes did change


def test_the_factories_pass_the_trial_count_to_lightgbm():
    model = default_model_factories("purchase", 90, seed=5, tune_trials=7, tune_seconds=12.5)["lgbm"]()
    assert (model.tune_trials, model.tune_seconds, model.seed) == (7, 12.5, 5)
    assert default_model_factories("purchase", 90)["lgbm"]().tune_trials == 0
