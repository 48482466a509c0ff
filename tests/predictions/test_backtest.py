"""Backtests: train as of a past date, judge on what happened after it, beside the simulator's oracle."""

import datetime as dt
import json

import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from behavior.services import data_import
from predictions.models import ModelVersion
from tests.conftest import SIM_END
from tests.predictions.factories import random_orders_shop

METRICS = {"roc_auc", "pr_auc", "brier", "log_loss", "lift_top_decile"}


@pytest.fixture
def shop_with_future(simulated_shop, simulated_dir):
    """The simulated shop plus what really happened in the 90 days after its data ends."""
    data_import(shop=simulated_shop, kind="orders", path=simulated_dir / "future_orders.csv")
    data_import(shop=simulated_shop, kind="order_lines", path=simulated_dir / "future_order_lines.csv")
    return simulated_shop


@pytest.mark.django_db
def test_backtest_json_has_every_algorithm_the_oracle_and_the_champion(shop_with_future, simulated_dir, capsys):
    call_command("backtest", "--task", "purchase", "--cutoff", SIM_END.isoformat(), "--horizon", "90",
                 "--truth", str(simulated_dir / "truth.csv"), "--algorithms", "recency,rfm_logreg,bgnbd,lgbm",
                 "--json")
    report = json.loads(capsys.readouterr().out)
    assert report["champion"] in {"recency", "rfm_logreg", "bgnbd", "lgbm"} and report["validation_ranked"]
    assert set(report["algorithms"]) == {"recency", "rfm_logreg", "bgnbd", "lgbm", "oracle"}
    for name, metrics in report["algorithms"].items():
        assert METRICS <= set(metrics), name
        assert report[name] == metrics
    assert report["customers"] > 0 and 0 < report["base_rate"] < 1
    # The simulator's true probabilities are the ceiling; a trained model gets near it.
    oracle = report["algorithms"]["oracle"]["roc_auc"]
    best = max(m["roc_auc"] for n, m in report["algorithms"].items() if n != "oracle")
    assert 0.8 * oracle < best <= oracle + 0.03
    # A backtest registers nothing: it must not touch the live registry.
    assert not ModelVersion.objects.filter(shop=shop_with_future).exists()


@pytest.mark.django_db
def test_backtest_uses_only_data_up_to_the_cutoff(shop_with_future):
    """Changing orders after the cutoff + horizon must not change a backtest's figures."""
    from predictions.services.backtesting import model_backtest

    cutoff = SIM_END - dt.timedelta(days=120)
    first = model_backtest(shop=shop_with_future, task="churn", cutoff=cutoff, horizon_days=60,
                           algorithms="recency,bgnbd")
    shop_with_future.orders.filter(placed_at__date__gt=cutoff + dt.timedelta(days=60)).delete()
    second = model_backtest(shop=shop_with_future, task="churn", cutoff=cutoff, horizon_days=60,
                            algorithms="recency,bgnbd")
    assert first["algorithms"] == second["algorithms"]


@pytest.mark.django_db
@pytest.mark.parametrize("extra_days", [0, 10])
def test_a_horizon_as_long_as_the_history_is_backtested_like_a_longer_one(simulated_shop, extra_days):
    """An outside review: with the cutoff a horizon after the data's first day (0 days left over; a CD file with
    times in a time zone made 273 of 273), the validation window held customers a few hours old, BG/NBD found no
    repeat buyer there, and the backtest failed with "only BG/NBD and Pareto/NBD can be used". Such a window (less
    than the 30 days of feature history a window needs) is not a validation window: the label-free models fit
    today's history, as when the history is shorter than the horizon."""
    from predictions.services.backtesting import model_backtest

    first = simulated_shop.orders.order_by("placed_at").first().placed_at.date()
    horizon = 150
    cutoff = first + dt.timedelta(days=horizon + extra_days)
    report = model_backtest(shop=simulated_shop, task="purchase", cutoff=cutoff, horizon_days=horizon,
                            algorithms="bgnbd,paretonbd,recency")
    assert report["champion"] in {"bgnbd", "paretonbd"}
    # No validation window ranked them (an outside analyst read "Validation chose: paretonbd" there).
    assert report["validation_ranked"] is False
    # recency needs labels: the reason given is the history's, not scikit-learn's "Found array with 0 sample(s)"
    assert list(report["errors"]) == ["recency"]
    assert report["errors"]["recency"].startswith(f"not trained: history of {horizon + extra_days} days is shorter")
    for name in ("bgnbd", "paretonbd"):
        assert report["algorithms"][name]["roc_auc"] > 0.6
        assert report["algorithms"][name]["log_loss"] < 0.69  # better than a coin at the base rate's side


@pytest.mark.django_db
@pytest.mark.parametrize("args, message", [
    (["--cutoff", "2001-01-01", "--horizon", "30"], "outside the shop's data"),
    (["--cutoff", SIM_END.isoformat(), "--horizon", "30"], "ends after the data does"),
    (["--cutoff", "2026-02-30", "--horizon", "30"], "not a date"),
    (["--cutoff", SIM_END.isoformat(), "--horizon", "0"], "at least 1"),
    # A horizon longer than the data: no cutoff before the data's first day is suggested.
    (["--cutoff", SIM_END.isoformat(), "--horizon", "2000"], "a 2000-day horizon leaves no history"),
])
def test_bad_backtest_input_gets_a_clear_error(simulated_shop, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("backtest", "--task", "churn", *args)


@pytest.mark.django_db
def test_with_json_an_error_is_also_a_json_line_on_stdout(simulated_shop, capsys):
    with pytest.raises(CommandError, match="outside the shop's data"):
        call_command("backtest", "--task", "churn", "--cutoff", "2001-01-01", "--horizon", "30", "--json")
    assert "outside the shop's data" in json.loads(capsys.readouterr().out)["error"]
    # An argument refused before the command runs says so on stdout too (a script got nothing there, exit 2).
    with pytest.raises(CommandError, match="not a date"):
        call_command("backtest", "--task", "churn", "--cutoff", "31/03/1998", "--horizon", "30", "--json")
    assert "not a date like 2024-03-01" in json.loads(capsys.readouterr().out)["error"]
    # A dotted date is the day first, as the imports read it.
    with pytest.raises(CommandError, match="outside the shop's data"):
        call_command("backtest", "--task", "churn", "--cutoff", "31.03.1998", "--horizon", "30")



def test_a_test_window_of_one_outcome_is_said_to_rank_nothing():
    """An outside analyst's baskets shop: every customer bought in the test window (base rate 1.0, ROC null), and the
    command named a champion without a word."""
    from predictions.management.commands.backtest import _one_outcome

    assert "every customer bought" in _one_outcome({"task": "purchase", "base_rate": 1.0})
    assert "nobody left" in _one_outcome({"task": "churn", "base_rate": 0.0})
    assert _one_outcome({"task": "purchase", "base_rate": 0.3}) == ""


@pytest.mark.django_db
def test_a_long_horizon_champion_says_it_trains_the_regression_it_blends(simulated_shop):
    """An outside analyst read "rfm_logreg: not trained: … only BG/NBD and Pareto/NBD can be used" beside a champion
    (long_horizon) that blends an rfm_logreg trained on a shorter horizon."""
    from predictions.services.backtesting import model_backtest

    first = simulated_shop.orders.order_by("placed_at").first().placed_at.date()
    report = model_backtest(shop=simulated_shop, task="purchase", cutoff=first + dt.timedelta(days=160),
                            horizon_days=150, algorithms="paretonbd,rfm_logreg")
    assert report["champion"] == "long_horizon" and report["validation_ranked"] is False
    assert report["errors"]["rfm_logreg"].startswith("not trained: history of 160 days is shorter")
    assert report["errors"]["rfm_logreg"].endswith("blends it with the label-free model)")


@pytest.fixture
def small_b2b_shop(db, tmp_path):
    """150 customers over two and a half years, orders only: too few for LightGBM by the history's own rule."""
    from accounts.models import Shop
    from tests.predictions.ml.test_pipeline import make_shop

    orders = make_shop(n_customers=150, days=900, seed=0, lines=False, events=False).frames.orders
    orders = orders[orders["status"] == "placed"]
    path = tmp_path / "orders.csv"
    pd.DataFrame({"order_id": "B" + orders["order_id"].astype(str),
                  "customer_id": "ACME-" + orders["customer_id"].astype(str),
                  "placed_at": orders["placed_at"].dt.strftime("%Y-%m-%d"), "total": orders["total"].round(2),
                  "item_count": orders["item_count"]}).to_csv(path, index=False)
    shop = Shop.objects.create(slug="b2b", name="B2B")
    data_import(shop=shop, kind="orders", path=path)
    return shop


@pytest.mark.django_db
def test_backtest_and_train_of_a_small_shop_train_only_what_the_history_allows(small_b2b_shop, capsys):
    """An outside analyst's B2B shop: `backtest` printed "LightGBM needs 200 validation customers; validation has
    150", then trained LightGBM, the LSTM and the ensemble, reported no errors and crowned the ensemble."""
    last = small_b2b_shop.orders.order_by("-placed_at").first().placed_at.date()
    cutoff = (last - dt.timedelta(days=60)).isoformat()
    args = ["--shop", "b2b", "--task", "purchase", "--cutoff", cutoff, "--horizon", "60",
            "--algorithms", "recency,rfm_logreg,lgbm,ensemble"]
    call_command("backtest", *args, "--json")
    report = json.loads(capsys.readouterr().out)
    assert "lgbm" not in report["sufficiency"]["algorithms_allowed"]
    assert set(report["algorithms"]) == {"recency", "rfm_logreg"} and report["champion"] in report["algorithms"]
    assert set(report["errors"]) == {"lgbm", "ensemble"}
    assert all(e.startswith("not trained: LightGBM needs 200 validation customers") for e in report["errors"].values())
    call_command("backtest", *args)
    assert "Not trained (the history's reasons above): lgbm, ensemble." in capsys.readouterr().out

    # train follows the same rule with the same words; an ensemble crowned before the rule was enforced (as it was
    # on the analyst's shop) gives way, or "not trained: …" would stand beside an ensemble champion
    from tests.predictions.factories import ModelVersionFactory

    old = ModelVersionFactory(shop=small_b2b_shop, task="purchase", algorithm="ensemble", horizon_days=60,
                              metrics={"roc_auc": 0.99, "pr_auc": 0.99, "log_loss": 0.01})
    call_command("train", *args[:4], "--horizon", "60", "--as-of", cutoff, "--algorithms",
                 "recency,rfm_logreg,lgbm,ensemble", "--json")
    trained = json.loads(capsys.readouterr().out)
    assert set(trained["models"]) == {"recency", "rfm_logreg"} and trained["errors"] == report["errors"]
    assert trained["champion"] in {"recency", "rfm_logreg"} and trained["promoted"]
    old.refresh_from_db()
    assert old.status == ModelVersion.Status.RETIRED


@pytest.mark.django_db
def test_a_backtest_of_150_customers_says_its_figures_are_uncertain(small_b2b_shop, capsys):
    """The analyst's B2B backtest put ROC AUCs of 0.58-0.78 on 150 test customers side by side without a word that
    another 150 customers could reorder them."""
    last = small_b2b_shop.orders.order_by("-placed_at").first().placed_at.date()
    args = ["--shop", "b2b", "--task", "purchase", "--cutoff", (last - dt.timedelta(days=60)).isoformat(),
            "--horizon", "60", "--algorithms", "recency,rfm_logreg"]
    call_command("backtest", *args, "--json")
    report = json.loads(capsys.readouterr().out)
    u = report["uncertainty"]
    assert u["positives"] + u["negatives"] == report["customers"] == u["test_customers"] and u["positives"] > 0
    assert u["champion_roc_auc"] == report["algorithms"][report["champion"]]["roc_auc"]
    low, high = u["roc_auc_95"]
    assert low < u["champion_roc_auc"] < high and high - low > 0.1 and u["uncertain"] is True
    assert u["note"].startswith(f"The figures are uncertain: with {report['customers']} test customers")
    call_command("backtest", *args)
    text = capsys.readouterr().out
    assert f"{u['positives']} bought, {u['negatives']} did not buy" in text and "95 % interval" in text
    assert u["note"] in text


@pytest.mark.django_db
def test_a_window_where_99_percent_leave_says_pr_auc_precision_and_lift_mean_nothing(capsys):
    """An outside analyst's marketplace: churn base rate 0.9913, every model's precision = base rate, recall 1.0,
    PR AUC ≈ 0.998, and `uncertain: false, note: null`."""
    shop, cutoff = random_orders_shop(slug="market", customers=800, history_days=360, rate=0.004, horizon=30,
                                future_share=0.01, seed=3)
    args = ["--shop", "market", "--task", "churn", "--cutoff", cutoff.isoformat(), "--horizon", "30",
            "--algorithms", "recency,rfm_logreg"]
    call_command("backtest", *args, "--json")
    report = json.loads(capsys.readouterr().out)
    assert report["base_rate"] >= 0.98
    u = report["uncertainty"]
    assert f"With {100 * u['positives'] / u['test_customers']:.1f} % of the test customers left" in u["note"]
    assert "say nothing" in u["note"] and "Read the ROC AUC" in u["note"]
    assert set(u["uninformative_metrics"]) >= {"pr_auc", "precision", "lift_top_decile"}
    call_command("backtest", *args)
    assert u["note"] in capsys.readouterr().out
    assert set(report["algorithms"]["recency"]) >= {"roc_auc", "pr_auc", "precision"}  # the keys stay


@pytest.mark.django_db
def test_a_champion_whose_roc_auc_interval_holds_one_half_is_said_to_be_no_better_than_chance():
    """An outside analyst: a Pareto/NBD champion at ROC AUC 0.512, 95 % interval [0.486, 0.538], had
    `uncertain: false, note: null`. Orders at random, the same rate for everyone: nothing in the past tells who
    orders next, with enough customers that the interval is narrower than ±0.05."""
    from predictions.services.backtesting import model_backtest

    shop, cutoff = random_orders_shop(slug="coin", customers=1500, history_days=400, rate=0.0116, horizon=60,
                                future_share=0.5, seed=5)
    report = model_backtest(shop=shop, task="churn", cutoff=cutoff, horizon_days=60, algorithms="recency,rfm_logreg")
    u = report["uncertainty"]
    low, high = u["roc_auc_95"]
    assert low <= 0.5 <= high and (high - low) / 2 <= 0.05  # the case: narrow, yet holding chance
    assert u["uncertain"] is True
    assert u["note"].startswith("The champion ranks the customers no better than chance: its ROC AUC")
    assert u["uninformative_metrics"] == []


def test_a_base_rate_that_moved_since_validation_is_said_to_weigh_on_brier_and_log_loss():
    """An outside analyst: with a promotion inside the horizon every churn model's Brier (0.28-0.29) was worse than a
    constant at the test's base rate (0.242), and nothing said the share who left had moved since validation."""
    from predictions.services.backtesting import _uncertainty

    moved = _uncertainty(task="churn", customers=1638, base_rate=0.42, champion_roc_auc=0.81, valid_base_rate=0.24)
    assert moved["validation_base_rate"] == 0.24
    assert ("The share of customers who left moved from 0.240 in the validation window to 0.420 in the test window"
            in moved["note"]) and "a constant at the test's rate scores a Brier of 0.244" in moved["note"]
    steady = _uncertainty(task="purchase", customers=1638, base_rate=0.26, champion_roc_auc=0.81, valid_base_rate=0.24)
    assert steady["note"] is None
    small = _uncertainty(task="purchase", customers=20000, base_rate=0.06, champion_roc_auc=0.81, valid_base_rate=0.03)
    assert small["note"] is None  # doubled, but by 0.03: within a window's noise
