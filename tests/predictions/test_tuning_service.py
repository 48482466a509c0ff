"""LightGBM's hyperparameter search through training: the setting reaches the model, the chosen parameters are
stored with the model version and shown on its page (real PostgreSQL)."""

import pytest

from predictions.ml import gbm
from predictions.models import ModelVersion
from predictions.services.registry import model_load
from predictions.services.training import model_train
from tests.accounts.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_tune_trials_setting_runs_the_search_and_the_version_page_shows_the_chosen_parameters(
        simulated_shop, settings, client, monkeypatch):
    monkeypatch.setattr(gbm, "MIN_TUNE_CLASS_ROWS", 20)  # the test shop is small
    settings.TUNE_TRIALS, settings.TUNE_SECONDS = 4, 120
    model_train(shop=simulated_shop, task="purchase", horizon_days=60, algorithms=["lgbm"])
    version = ModelVersion.objects.get(shop=simulated_shop, algorithm="lgbm")
    described = version.metrics["hyperparameters"]
    assert described["search"]["trials_run"] == 4 and not described["search"]["stopped_by_time"]
    loaded = model_load(version=version)
    assert described["params"] == {name: loaded.params[name] for name in described["params"]}
    assert loaded.summary.tuning["trials_run"] == 4

    client.force_login(UserFactory(role="analyst", shops=[simulated_shop]))
    page = client.get(f"/models/{version.pk}/").content.decode()
    assert "Hyperparameters chosen by" in page and "a search of 4 trials on the validation cutoff" in page
    assert f"<dt>num_leaves</dt><dd>{described['params']['num_leaves']}</dd>" in page


def test_tune_trials_zero_keeps_the_fixed_grid_and_says_so(simulated_shop, settings, client):
    settings.TUNE_TRIALS = 0
    model_train(shop=simulated_shop, task="purchase", horizon_days=60, algorithms=["lgbm"])
    version = ModelVersion.objects.get(shop=simulated_shop, algorithm="lgbm")
    described = version.metrics["hyperparameters"]
    assert described["search"] is None and described["settings"] in gbm.PARAM_CANDIDATES
    assert model_load(version=version).summary.tuning is None
    client.force_login(UserFactory(role="analyst", shops=[simulated_shop]))
    page = client.get(f"/models/{version.pk}/").content.decode()
    assert "the fixed settings compared on the validation cutoff" in page
