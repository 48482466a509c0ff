"""The event-level GRU (eventgru.py) and its per-customer steps (eventseq.py), on small synthetic shops."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from predictions.ml.base import ModelInput, ShopFrames
from predictions.ml.eventgru import EventGruModel
from predictions.ml.eventseq import ORDER_TYPES, build_event_sequences, type_codes
from predictions.ml.lstm import LstmModel
from predictions.ml.pipeline import TrainConfig, build_model_input, train

CUTOFF = pd.Timestamp("2024-06-30", tz="UTC")


def _empty_lines() -> pd.DataFrame:
    return pd.DataFrame({"order_id": pd.Series(dtype=np.int64), "customer_id": pd.Series(dtype=np.int64),
                         "placed_at": pd.Series(dtype="datetime64[ns, UTC]"), "product_id": pd.Series(dtype=np.int64),
                         "category_id": pd.Series(dtype=np.float64), "quantity": pd.Series(dtype=np.float64),
                         "unit_price": pd.Series(dtype=np.float64)})


def _empty_events() -> pd.DataFrame:
    return pd.DataFrame({"customer_id": pd.Series(dtype=np.int64),
                         "occurred_at": pd.Series(dtype="datetime64[ns, UTC]"), "type": pd.Series(dtype=object),
                         "product_id": pd.Series(dtype=np.float64)})


def _shop(n: int, seed: int, *, events: bool = True) -> tuple[ShopFrames, np.ndarray]:
    """Customers with a few orders and views; the label is whether the customer's LAST event was 'unsubscribe'
    rather than 'newsletter_open' (10 % of labels flipped). Both types are equally frequent, at the same times,
    so weekly counts and the static features carry no signal: only the order of the events does."""
    rng = np.random.default_rng(seed)
    n_orders = rng.integers(1, 4, n)
    o_cust = np.repeat(np.arange(n), n_orders)
    o_age = rng.uniform(5, 170, len(o_cust))
    orders = pd.DataFrame({"order_id": np.arange(len(o_cust), dtype=np.int64) + 1, "customer_id": o_cust,
                           "placed_at": CUTOFF - pd.to_timedelta(o_age, unit="D"),
                           "total": rng.gamma(2.0, 25.0, len(o_cust)), "item_count": 1.0, "status": "placed"})
    churner = rng.random(n) < 0.4
    frames_events = _empty_events()
    if events:
        # two mail events per customer, one of each type, 1-20 days ago; churners have 'unsubscribe' last
        first_age = rng.uniform(8, 20, n)
        last_age = rng.uniform(1, 7, n)
        last = np.where(churner, "unsubscribe", "newsletter_open")
        first = np.where(churner, "newsletter_open", "unsubscribe")
        v_cust = np.repeat(np.arange(n), 3)
        frames_events = pd.DataFrame({
            "customer_id": np.concatenate([np.arange(n), np.arange(n), v_cust]),
            "occurred_at": CUTOFF - pd.to_timedelta(np.concatenate([first_age, last_age,
                                                                    rng.uniform(1, 100, len(v_cust))]), unit="D"),
            "type": np.concatenate([first, last, np.full(len(v_cust), "view")]),
            "product_id": np.nan,
        })
    customers = pd.DataFrame({"customer_id": np.arange(n, dtype=np.int64),
                              "signup_at": CUTOFF - pd.Timedelta(days=200)})
    frames = ShopFrames(customers=customers, orders=orders, order_lines=_empty_lines(), events=frames_events)
    y = np.where(rng.random(n) < 0.1, ~churner, churner).astype(np.int64)
    return frames, y


def _input(n: int, seed: int, *, events: bool = True) -> ModelInput:
    frames, y = _shop(n, seed, events=events)
    config = TrainConfig(task="churn", horizon_days=30, as_of=CUTOFF, algorithms=("event_gru",), event_steps=16)
    data = build_model_input(frames, cutoff=CUTOFF, horizon_days=None, task="churn", config=config)
    return replace(data, y=y[data.customer_ids])


def _model(**kwargs) -> EventGruModel:
    return EventGruModel("churn", **{"seed": 0, "hidden": 16, "epochs": 8, "batch_size": 256, "device": "cpu",
                                     **kwargs})


@pytest.fixture(scope="module")
def data():
    return _input(2500, 1), _input(1000, 2)


@pytest.fixture(scope="module")
def fitted(data):
    model = _model()
    model.fit(*data)
    return model


def test_learns_the_order_of_events_that_the_weekly_bins_cannot_see(data, fitted):
    train_set, valid = data
    test = _input(1000, 3)
    gru_auc = roc_auc_score(test.y, fitted.predict_proba(test))
    lstm = LstmModel("churn", seed=0, hidden=16, epochs=8, batch_size=256, device="cpu")
    lstm.fit(train_set, valid)
    lstm_auc = roc_auc_score(test.y, lstm.predict_proba(test))
    assert gru_auc > 0.8
    assert lstm_auc < 0.62  # the same customers, seen as weekly counts: no signal
    assert gru_auc > lstm_auc + 0.2


def test_same_seed_gives_identical_predictions(data, fitted):
    again = _model()
    again.fit(*data)
    np.testing.assert_array_equal(again.predict_proba(data[1]), fitted.predict_proba(data[1]))


def test_save_load_round_trip_predicts_identically(data, fitted, tmp_path):
    fitted.save(tmp_path)
    loaded = EventGruModel.load(tmp_path, expected_features=fitted.features, device="cpu")
    np.testing.assert_array_equal(loaded.predict_proba(data[1]), fitted.predict_proba(data[1]))
    assert loaded.steps == 16


def test_works_with_orders_only():
    train_set, valid = _input(800, 4, events=False), _input(400, 5, events=False)
    assert set(np.unique(train_set.events.types)) <= {0, ORDER_TYPES["placed"]}
    model = _model(epochs=2)
    model.fit(train_set, valid)
    p = model.predict_proba(valid)
    assert p.shape == (400,) and np.isfinite(p).all() and ((p >= 0) & (p <= 1)).all()


def test_missing_events_are_refused_with_a_clear_error(data, fitted):
    with pytest.raises(ValueError, match="needs ModelInput.events"):
        fitted.predict_proba(replace(data[1], events=None))


def test_steps_are_the_last_ones_oldest_first_and_ignore_the_future():
    frames, _ = _shop(5, 6)
    ids = np.array([3, 1])
    seq = build_event_sequences(frames, cutoff=CUTOFF, customer_ids=ids, steps=4)
    # customer 3's last four steps, padding first; the final step is the latest event
    events = frames.events[frames.events.customer_id == 3]
    orders = frames.orders[frames.orders.customer_id == 3]
    times = pd.concat([events.occurred_at, orders.placed_at]).sort_values()
    assert (seq.types[0] > 0).sum() == min(4, len(times))
    latest = events.loc[events.occurred_at.idxmax()]
    assert seq.types[0, -1] == type_codes(pd.Series([latest.type]))[0]
    age = (CUTOFF - times.iloc[-1]) / pd.Timedelta(days=1)
    assert seq.numeric[0, -1, 0] == pytest.approx(np.log1p(age), rel=1e-5)  # the last gap runs to the cutoff
    later = ShopFrames(customers=frames.customers, orders=frames.orders, order_lines=frames.order_lines,
                       events=pd.concat([frames.events, pd.DataFrame({
                           "customer_id": [3], "occurred_at": [CUTOFF + pd.Timedelta(days=1)],
                           "type": ["unsubscribe"], "product_id": [np.nan]})], ignore_index=True))
    again = build_event_sequences(later, cutoff=CUTOFF, customer_ids=ids, steps=4)
    np.testing.assert_array_equal(again.types, seq.types)
    np.testing.assert_array_equal(again.numeric, seq.numeric)


def test_pipeline_trains_event_gru_beside_the_others():
    from tests.predictions.ml.test_pipeline import make_shop

    shop = make_shop(n_customers=600, days=500, seed=3)
    config = TrainConfig(task="purchase", horizon_days=60, as_of=shop.end, algorithms=("rfm_logreg", "event_gru"),
                         event_steps=16)
    factories = {"rfm_logreg": lambda: __import__("predictions.ml.baselines", fromlist=["RfmLogReg"]).RfmLogReg(
        "purchase"), "event_gru": lambda: _model(epochs=2)}
    result = train(shop.frames, config, model_factories=factories)
    assert result.errors == {}
    assert set(result.metrics) == {"rfm_logreg", "event_gru"}
    assert result.metrics["event_gru"]["roc_auc"] > 0.6
