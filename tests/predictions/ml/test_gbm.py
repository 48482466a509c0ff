import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from predictions.ml.base import FeatureMismatch, ModelInput
from predictions.ml.gbm import LightGbmModel

FEATURES = ["recency_days", "frequency_total", "spend_365d", "mean_gap_days", "overdue_ratio", "views_30d"]


def _data(n, seed):
    """Churn-like data: risk rises with overdue_ratio and recency; ~15 % positives; NaN gaps."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "recency_days": rng.exponential(60, n),
            "frequency_total": rng.poisson(4, n).astype(float),
            "spend_365d": rng.gamma(2, 50, n),
            "mean_gap_days": rng.exponential(30, n),
            "overdue_ratio": rng.exponential(1.0, n),
            "views_30d": rng.poisson(3, n).astype(float),
        }
    ).astype(np.float32)
    X.loc[X.frequency_total < 2, ["mean_gap_days", "overdue_ratio"]] = np.nan
    z = 1.5 * np.nan_to_num(X.overdue_ratio.to_numpy(), nan=1.0) + X.recency_days.to_numpy() / 60 - 4.0
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    return ModelInput(customer_ids=np.arange(n), X=X, y=y)


@pytest.fixture(scope="module")
def fitted():
    train, valid = _data(6000, 1), _data(3000, 2)
    model = LightGbmModel("churn", seed=0)
    model.fit(train, valid)
    return model


def test_learns_signal_and_calibrated_probabilities_match_observed_rate_despite_class_weight(fitted):
    test = _data(5000, 3)
    p = fitted.predict_proba(test)
    assert roc_auc_score(test.y, p) > 0.75
    assert fitted.summary.scale_pos_weight > 2  # the weighting inflates raw scores ...
    raw_mean = fitted.booster.predict(fitted._matrix(test.X)).mean()
    assert raw_mean > test.y.mean() + 0.05
    assert abs(p.mean() - test.y.mean()) < 0.03  # ... and calibration removes the inflation


def test_early_stopping_keeps_fewer_rounds_than_run(fitted):
    assert fitted.summary.best_iteration < fitted.summary.rounds_run <= 1000


def test_same_seed_gives_identical_model():
    train, valid, test = _data(2000, 1), _data(1000, 2), _data(500, 3)
    a, b = LightGbmModel("churn", seed=7), LightGbmModel("churn", seed=7)
    a.fit(train, valid)
    b.fit(train, valid)
    assert np.array_equal(a.predict_proba(test), b.predict_proba(test))


def test_columns_are_matched_by_name_not_position(fitted):
    test = _data(300, 4)
    shuffled = ModelInput(test.customer_ids, test.X[FEATURES[::-1]])
    assert np.array_equal(fitted.predict_proba(test), fitted.predict_proba(shuffled))


def test_contributions_drop_bias_column_and_blame_the_driving_feature(fitted):
    test = _data(1000, 5)
    contrib = fitted.contributions(test)
    assert contrib.shape == (1000, len(FEATURES))
    full = fitted.booster.predict(fitted._matrix(test.X), pred_contrib=True)
    assert np.allclose(contrib, full[:, :-1])
    mean_abs = dict(zip(FEATURES, np.abs(contrib).mean(axis=0), strict=True))
    assert max(mean_abs, key=mean_abs.get) in {"overdue_ratio", "recency_days"}
    assert mean_abs["views_30d"] < mean_abs["overdue_ratio"]


def test_save_load_round_trip_predicts_identically_without_pickle(fitted, tmp_path):
    test = _data(500, 6)
    fitted.save(tmp_path / "gbm")
    loaded = LightGbmModel.load(tmp_path / "gbm", expected_features=FEATURES)
    assert np.array_equal(loaded.predict_proba(test), fitted.predict_proba(test))
    assert np.array_equal(loaded.contributions(test), fitted.contributions(test))
    assert sorted(p.name for p in (tmp_path / "gbm").iterdir()) == ["calibrator.json", "metadata.json", "model.txt"]


def test_load_refuses_model_trained_on_other_features(fitted, tmp_path):
    fitted.save(tmp_path / "gbm")
    with pytest.raises(FeatureMismatch):
        LightGbmModel.load(tmp_path / "gbm", expected_features=[*FEATURES, "carts_30d"])


def test_scoring_frame_missing_a_feature_is_refused(fitted):
    test = _data(100, 7)
    with pytest.raises(FeatureMismatch, match="views_30d"):
        fitted.predict_proba(ModelInput(test.customer_ids, test.X.drop(columns="views_30d")))


def test_single_class_training_labels_are_refused():
    train, valid = _data(500, 1), _data(300, 2)
    train = ModelInput(train.customer_ids, train.X, y=np.zeros(500, dtype=int))
    with pytest.raises(ValueError, match="single class"):
        LightGbmModel("purchase").fit(train, valid)


def test_path_contributions_add_up_to_the_raw_score_and_blame_the_driving_feature(fitted):
    """The fast reasons must explain the score: contributions + the trees' roots = the raw log-odds."""
    data = _data(1000, 7)
    path = fitted.path_contributions(data)
    assert path.shape == (len(data.X), len(FEATURES))
    raw = fitted.booster.predict(fitted._matrix(data.X), num_iteration=fitted._best_iteration(), raw_score=True)
    roots = sum(t["tree_structure"].get("internal_value", t["tree_structure"].get("leaf_value", 0.0))
                for t in fitted.booster.dump_model(num_iteration=fitted._best_iteration())["tree_info"])
    assert np.allclose(path.sum(axis=1) + roots, raw, atol=1e-6)
    shap = fitted.contributions(data)
    # Both methods name the same strongest feature for most customers.
    agree = (np.abs(path).argmax(axis=1) == np.abs(shap).argmax(axis=1)).mean()
    assert agree > 0.7


def test_one_pass_through_the_trees_gives_the_probabilities_and_the_reasons_of_two(fitted):
    """Scoring asks for both at once (predict_with_paths): the same calibrated probabilities as predict_proba and the
    same contributions as path_contributions, for every row."""
    data = _data(1000, 8)
    p, paths = fitted.predict_with_paths(data)
    assert np.allclose(p, fitted.predict_proba(data), rtol=0, atol=1e-12)
    assert np.array_equal(paths, fitted.path_contributions(data))


def test_validation_chooses_between_the_candidate_settings_and_the_choice_is_saved(fitted, tmp_path):
    """Both candidate settings are fitted on the same split; the higher validation AUC wins (ties to the
    default), and a loaded model carries the chosen settings, not the defaults."""
    from predictions.ml.gbm import DEFAULT_PARAMS, PARAM_CANDIDATES

    aucs = fitted.summary.candidates_auc
    assert set(aucs) == set(PARAM_CANDIDATES) and all(0.5 < a <= 1.0 for a in aucs.values())
    best = max(aucs.values())
    expected = "default" if aucs["default"] >= best - 1e-4 else max(aucs, key=aucs.get)
    assert fitted.summary.settings == expected and fitted.summary.valid_auc_raw == aucs[expected]
    assert fitted.params == {**DEFAULT_PARAMS, **PARAM_CANDIDATES[expected]}
    fitted.save(tmp_path / "gbm")
    loaded = LightGbmModel.load(tmp_path / "gbm", expected_features=FEATURES)
    assert loaded.params == fitted.params and loaded.summary.settings == expected


def test_noisy_small_training_set_prefers_the_small_regularised_trees():
    """Few rows and a weak signal: 31-leaf trees fit noise, the small slow trees generalise (the orders-only
    shops' case)."""
    rng = np.random.default_rng(0)

    def noisy(n):
        X = pd.DataFrame(rng.normal(size=(n, 6)), columns=FEATURES).astype(np.float32)
        z = 0.6 * X["recency_days"].to_numpy() - 1.5
        return ModelInput(np.arange(n), X, y=(rng.random(n) < 1 / (1 + np.exp(-z))).astype(int))

    model = LightGbmModel("purchase", seed=0)
    model.fit(noisy(3000), noisy(3000))
    assert model.summary.settings == "small"
    assert model.summary.candidates_auc["small"] > model.summary.candidates_auc["default"]


def test_explicit_params_and_big_training_sets_fit_one_setting(monkeypatch):
    import predictions.ml.gbm as gbm

    train, valid = _data(2000, 1), _data(1000, 2)
    given = LightGbmModel("churn", params={"num_leaves": 15})
    given.fit(train, valid)
    assert list(given.summary.candidates_auc) == ["default"] and given.params["num_leaves"] == 15
    monkeypatch.setattr(gbm, "SEARCH_MAX_ROWS", 1999)
    big = LightGbmModel("churn")
    big.fit(train, valid)
    assert list(big.summary.candidates_auc) == ["default"] and big.params["num_leaves"] == 31
