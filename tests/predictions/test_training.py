"""Training through the service: registry rows, artifacts on disk, champion rules, clear errors."""

import datetime as dt
import json
from pathlib import Path

import pytest

from accounts.models import AuditLog
from ecomsight.errors import UserError
from predictions.models import ModelVersion
from predictions.services.registry import model_load
from predictions.services.training import model_train, model_version_promote
from tests.conftest import SIM_END


@pytest.mark.django_db
def test_training_registers_every_algorithm_with_metrics_and_an_artifact(simulated_shop):
    outcome = model_train(shop=simulated_shop, task="churn", horizon_days=60,
                          algorithms=["recency", "rfm_logreg", "bgnbd", "lgbm"])
    versions = ModelVersion.objects.filter(shop=simulated_shop, task="churn")
    assert {v.algorithm for v in versions} == {"recency", "rfm_logreg", "bgnbd", "lgbm"}
    for version in versions:
        assert Path(version.artifact_path, "metadata.json").exists()
        assert 0.5 < version.metrics["roc_auc"] <= 1.0
        assert version.features and version.validation_cutoff < version.as_of
    champion = versions.get(status="champion")
    assert outcome.promoted and champion == outcome.champion
    assert AuditLog.objects.filter(action="model.promote", shop=simulated_shop).count() == 1


@pytest.mark.django_db
def test_a_worse_model_does_not_replace_the_champion(simulated_shop):
    first = model_train(shop=simulated_shop, task="purchase", horizon_days=60, algorithms=["lgbm"])
    assert first.promoted
    # Recency alone is a weaker model on the same validation data: it must stay a candidate.
    second = model_train(shop=simulated_shop, task="purchase", horizon_days=60, algorithms=["recency"])
    assert not second.promoted
    assert second.previous_champion_metrics["pr_auc"] > second.versions[0].metrics["pr_auc"]
    assert ModelVersion.objects.get(shop=simulated_shop, task="purchase", status="champion").algorithm == "lgbm"


@pytest.mark.django_db
def test_a_run_whose_validation_holds_one_outcome_keeps_the_measured_champion(simulated_shop):
    from io import StringIO

    from django.core.management import call_command

    from behavior.models import Customer, Order

    first = model_train(shop=simulated_shop, task="purchase", horizon_days=60, algorithms=["lgbm"])
    assert first.promoted and first.versions[0].metrics["pr_auc"] is not None
    # Every customer now buys in the last 60 days: the next run's validation window holds buyers only, so it
    # can rank no model, and the label-free one it falls back on must not replace a champion that was measured.
    Order.objects.bulk_create([
        Order(shop=simulated_shop, customer=c, external_id=f"again-{c.pk}", total=10,
              placed_at=dt.datetime.combine(SIM_END - dt.timedelta(days=5), dt.time(12), tzinfo=dt.UTC))
        for c in Customer.objects.filter(shop=simulated_shop)
    ])
    out = StringIO()
    call_command("train", "--shop", simulated_shop.slug, "--task", "purchase", "--horizon", "60",
                 "--algorithms", "bgnbd", stdout=out)
    assert "(it holds one outcome only): the current champion lgbm stays." in out.getvalue()
    statuses = dict(ModelVersion.objects.filter(shop=simulated_shop, task="purchase")
                    .values_list("algorithm", "status"))
    assert statuses == {"lgbm": "champion", "bgnbd": "candidate"}


@pytest.mark.django_db
def test_a_champion_nothing_measured_gives_way_to_a_newer_one(simulated_shop):
    """A second reader: a fallback champion (no metrics) must not outlive every later run fitted on more data."""
    from behavior.models import Customer, Order

    Order.objects.bulk_create([
        Order(shop=simulated_shop, customer=c, external_id=f"again-{c.pk}", total=10,
              placed_at=dt.datetime.combine(SIM_END - dt.timedelta(days=5), dt.time(12), tzinfo=dt.UTC))
        for c in Customer.objects.filter(shop=simulated_shop)
    ])
    first = model_train(shop=simulated_shop, task="purchase", horizon_days=60, algorithms=["bgnbd"])
    assert first.promoted and first.champion.metrics.get("pr_auc") is None
    second = model_train(shop=simulated_shop, task="purchase", horizon_days=60, algorithms=["bgnbd"])
    assert second.promoted and second.champion.pk != first.champion.pk


@pytest.mark.django_db
def test_promoting_by_hand_retires_the_old_champion(simulated_shop):
    model_train(shop=simulated_shop, task="purchase", horizon_days=60, algorithms=["lgbm", "recency"])
    candidate = ModelVersion.objects.get(shop=simulated_shop, algorithm="recency")
    model_version_promote(version=candidate)
    statuses = dict(ModelVersion.objects.filter(shop=simulated_shop).values_list("algorithm", "status"))
    assert statuses == {"recency": "champion", "lgbm": "retired"}


@pytest.mark.django_db
def test_artifact_refuses_to_load_into_code_with_another_feature_list(simulated_shop):
    model_train(shop=simulated_shop, task="churn", horizon_days=60, algorithms=["lgbm"])
    version = ModelVersion.objects.get(shop=simulated_shop, algorithm="lgbm")
    version.pk = None
    version.status = "candidate"
    version.features = version.features[:-1]
    meta = Path(version.artifact_path, "metadata.json")
    meta.write_text(meta.read_text().replace('"recency_days"', '"renamed_feature"'))
    version.save()
    with pytest.raises(UserError, match="cannot read the features this code builds.*no longer built: renamed_feature"):
        model_load(version=version)


@pytest.mark.django_db
def test_a_champion_trained_on_an_earlier_meaning_of_the_features_is_refused_and_replaced_by_the_next_training(
        simulated_shop):
    """Features can keep their names and change their meaning (since definition 2 an order counts as a visit): a
    model trained before must not score the new meaning, and the next training replaces it."""
    first = model_train(shop=simulated_shop, task="churn", horizon_days=60, algorithms=["lgbm"]).champion
    meta = Path(first.artifact_path, "metadata.json")
    raw = json.loads(meta.read_text())
    del raw["feature_definition"]  # as artifacts written before the definition was recorded
    meta.write_text(json.dumps(raw))
    with pytest.raises(UserError, match="earlier definition of the features"):
        model_load(version=first)
    second = model_train(shop=simulated_shop, task="churn", horizon_days=60, algorithms=["lgbm"])
    assert second.promoted
    first.refresh_from_db()
    assert first.status == "retired" and second.champion.pk != first.pk
    assert json.loads(Path(second.champion.artifact_path, "metadata.json").read_text())["feature_definition"] == 2


@pytest.mark.django_db
@pytest.mark.parametrize("kwargs, message", [
    ({"as_of": dt.date(2001, 1, 1)}, "before the shop's first order"),
    ({"as_of": SIM_END + dt.timedelta(days=400)}, "after the shop's last order"),
    ({"task": "retention"}, "Unknown task"),
    ({"algorithms": ["xgboost"]}, None),
])
def test_bad_training_input_gets_a_clear_error(simulated_shop, kwargs, message):
    from predictions.services.training import parse_algorithms

    if "algorithms" in kwargs:
        with pytest.raises(UserError, match="Unknown algorithm"):
            parse_algorithms(",".join(kwargs["algorithms"]))
        return
    with pytest.raises(UserError, match=message):
        model_train(shop=simulated_shop, **{"task": "churn", **kwargs})


@pytest.mark.django_db
def test_a_shop_without_orders_is_told_to_import_first(shop):
    with pytest.raises(UserError, match="no orders yet"):
        model_train(shop=shop, task="churn")


@pytest.mark.django_db
def test_history_shorter_than_the_horizon_still_gets_bgnbd(simulated_shop):
    # 420 days of history cannot label a 400-day horizon twice: only the label-free model can serve.
    outcome = model_train(shop=simulated_shop, task="purchase", horizon_days=400,
                          algorithms=["recency", "bgnbd", "lgbm"])
    # No validation window with 30 days of history before it (it would start 20 days after the first order):
    # BG/NBD is fitted on today's history, and LightGBM on the longest horizon that can be labelled (195 days)
    # is blended with it (the long-horizon model).
    assert "bgnbd" in {v.algorithm for v in outcome.versions}
    assert outcome.champion is not None and outcome.champion.algorithm in {"long_horizon", "bgnbd"}
    assert any("BG/NBD" in m or "bgnbd" in m.lower() for m in outcome.sufficiency["messages"])


@pytest.mark.django_db
def test_a_shop_larger_than_the_cap_trains_on_a_stable_sample_of_whole_customers(simulated_shop, settings):
    from predictions.selectors.frames import shop_frames

    settings.TRAIN_SAMPLE_CUSTOMERS = 300  # of 600 simulated customers
    first = shop_frames(shop_id=simulated_shop.pk, sample_share=0.5)
    again = shop_frames(shop_id=simulated_shop.pk, sample_share=0.5)
    everyone = shop_frames(shop_id=simulated_shop.pk)
    sampled = set(first.customers["customer_id"])
    assert sampled == set(again.customers["customer_id"])  # the same people every time
    assert 0.4 * len(everyone.customers) < len(sampled) < 0.6 * len(everyone.customers)
    # A sampled customer comes with all of their history, and nobody else's history comes along.
    for frame in (first.orders, first.order_lines, first.events):
        assert set(frame["customer_id"]) <= sampled
    kept_orders = everyone.orders[everyone.orders["customer_id"].isin(sampled)]
    assert len(first.orders) == len(kept_orders)

    outcome = model_train(shop=simulated_shop, task="churn", horizon_days=60, algorithms=["recency", "lgbm"])
    assert outcome.sufficiency["sample_share"] == 0.5
    assert outcome.sufficiency["customers"] <= len(sampled)
    assert 0.5 < outcome.champion.metrics["roc_auc"] <= 1.0

    settings.TRAIN_SAMPLE_CUSTOMERS = 0  # no cap: every customer
    assert model_train(shop=simulated_shop, task="churn", horizon_days=60,
                       algorithms=["recency"]).sufficiency["sample_share"] is None


@pytest.mark.django_db
def test_train_on_eight_weeks_of_history_gives_backtests_plain_reasons_not_exception_names(simulated_shop, capsys,
                                                                                          client):
    """An outside analyst trained a shop with 8 weeks of orders: `train` put "ValueError: Found array with 0
    sample(s)" and "training labels hold a single class" in `errors` where `backtest` said why in words, and
    announced "training lgbm" for algorithms the history check had already ruled out."""
    import json

    from django.core.management import call_command

    from predictions.services.backtesting import model_backtest

    as_of = simulated_shop.orders.order_by("placed_at").first().placed_at.date() + dt.timedelta(days=56)
    call_command("train", "--shop", "sim", "--task", "churn", "--horizon", "90", "--as-of", as_of.isoformat())
    # No window ranked anything: not "Validation chose paretonbd" (the analyst's short shop)
    assert "No validation window could rank the models" in capsys.readouterr().out
    call_command("train", "--shop", "sim", "--task", "churn", "--horizon", "90", "--as-of", as_of.isoformat(),
                 "--json")
    out = capsys.readouterr()
    errors = json.loads(out.out)["errors"]
    assert set(errors) == {"recency", "rfm_logreg", "lgbm", "lstm", "ensemble"}
    assert all(e.startswith("not trained: history of ") and "shorter than 2 × horizon" in e for e in errors.values())
    assert not any("Error" in e or "single class" in e for e in errors.values())
    assert "training bgnbd" in out.err
    assert not any(f"training {name}" in out.err for name in errors)
    backtest = model_backtest(shop=simulated_shop, task="churn", cutoff=as_of, horizon_days=90)
    assert backtest["errors"] == errors
    # the job page lists them under "Not trained:" once, not "lgbm (not trained: history …)"
    from accounts.models import Job
    from tests.accounts.factories import UserFactory

    client.force_login(UserFactory(role="analyst", shops=[simulated_shop]))
    job = Job.objects.filter(shop=simulated_shop, kind=Job.Kind.TRAIN).latest("pk")
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert "Not trained: ensemble (history of " in page and "(not trained:" not in page
