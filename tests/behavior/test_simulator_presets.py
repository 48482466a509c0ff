"""Simulator presets (`simulate_shop --preset grocery|fashion|media`): shops shaped like real ones.

Each preset's shape figures fall in the ranges its documentation promises (small sizes, pure file checks, no
database); explicit options beat the preset's sizes; an unknown preset is a clear error; the truth stays exact."""

import io
import json
import re

import numpy as np
import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from behavior.simulator import PRESETS, SimulationConfig, preset_config, preset_get, shop_shape, simulate

SMALL = {"grocery": dict(customers=300, products=800, days=180), "media": dict(customers=800, products=400),
         "fashion": dict(customers=800, products=300)}
# What the README and presets.py promise, written out here so that loosening a preset's ranges fails a test.
PROMISED = {
    "grocery": {"repeat_share": (0.6, 0.8), "mean_basket": (9.0, 13.0), "median_gap_days": (5.0, 28.0)},
    "media": {"one_time_share": (0.5, 0.65), "one_time_share_first_half": (0.52, 0.7), "mean_basket": (2.0, 3.0)},
    "fashion": {"repeat_share": (0.0, 0.1), "mean_basket": (1.4, 2.5), "refund_share": (0.18, 0.32),
                "seasonal_peak": (1.3, 3.0), "one_time_share": (0.4, 0.8)},
}


def _read(out, name: str) -> pd.DataFrame:
    return pd.read_csv(out / f"{name}.csv", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def shops(tmp_path_factory) -> dict:
    out = {}
    for name, sizes in SMALL.items():
        folder = tmp_path_factory.mktemp(name)
        simulate(preset_config(name, seed=5, future_days=30, **sizes), folder)
        out[name] = folder
    return out


@pytest.mark.parametrize("name", sorted(PROMISED))
def test_each_preset_falls_in_its_documented_shape(shops, name):
    shape = shop_shape(_read(shops[name], "orders"), _read(shops[name], "order_lines")).to_dict()
    for figure, (lo, hi) in PROMISED[name].items():
        assert shape[figure] is not None and lo <= shape[figure] <= hi, (figure, shape)
    for figure, (lo, hi) in PRESETS[name].ranges.items():
        assert lo <= shape[figure] <= hi, (figure, shape)


def test_presets_differ_where_the_real_shops_differ(shops):
    """Grocery customers come back and re-buy their staples; media customers mostly never return; fashion
    customers return but buy new styles, and send a quarter of it back."""
    shape = {name: shop_shape(_read(folder, "orders"), _read(folder, "order_lines")) for name, folder in shops.items()}
    assert shape["grocery"].one_time_share < 0.15 < 0.5 < shape["media"].one_time_share
    assert shape["grocery"].repeat_share > 0.6 > 0.1 > shape["fashion"].repeat_share
    assert shape["fashion"].refund_share > 3 * shape["grocery"].refund_share
    assert shape["grocery"].mean_basket > 3 * shape["media"].mean_basket


def test_each_preset_sells_its_own_catalogue(shops):
    tops = {name: set(_read(folder, "products").category.str.split(" > ").str[0]) for name, folder in shops.items()}
    assert tops["media"] == {"Music"}
    assert tops["fashion"] == {"Fashion"}
    assert "Grocery" in tops["grocery"] and not tops["grocery"] & {"Electronics", "Fashion", "Music"}


def test_media_is_a_closed_cohort_whose_first_purchase_is_the_join_day(shops):
    customers, orders = _read(shops["media"], "customers"), _read(shops["media"], "orders")
    placed = pd.to_datetime(orders.placed_at, utc=True, format="ISO8601")
    first = placed.groupby(orders.customer_id).min()
    signup = pd.to_datetime(customers.set_index("customer_id").signup_at, utc=True, format="ISO8601")
    assert len(first) == len(customers)  # everyone bought
    window_start = placed.min().floor("D")
    assert (first < window_start + pd.Timedelta(days=84)).all()
    assert ((first - signup[first.index]) < pd.Timedelta(days=1)).all()


def test_fashion_collections_leave_the_shop(shops):
    """Styles sell for a season or two, not for the two years of data: most of what sold in the first quarter is
    gone by the last, and most of the catalogue is not on sale at the end (active = false)."""
    lines, orders = _read(shops["fashion"], "order_lines"), _read(shops["fashion"], "orders")
    sold = lines.merge(orders, on="order_id")
    when = pd.to_datetime(sold.placed_at, utc=True, format="ISO8601")
    first = set(sold.product_id[when < when.min() + pd.Timedelta(days=91)])
    last = set(sold.product_id[when > when.max() - pd.Timedelta(days=91)])
    assert len(first) > 30 and len(first & last) < 0.6 * len(first)
    products = _read(shops["fashion"], "products")
    assert (products.active == "true").mean() < 0.5


@pytest.mark.parametrize("name", ["grocery", "media"])
def test_truth_stays_calibrated_under_a_preset(shops, name):

    truth = pd.read_csv(shops[name] / "truth.csv")
    future = _read(shops[name], "future_orders")
    future = future[future.status != "cancelled"]
    bought = truth.customer_id.isin(set(future.customer_id)).to_numpy()
    p = truth.p_purchase_30.to_numpy()
    z = (bought.sum() - p.sum()) / np.sqrt((p * (1 - p)).sum())
    assert abs(z) < 4, (bought.mean(), p.mean())


def test_command_preset_sets_defaults_that_explicit_options_override(tmp_path):
    stdout = io.StringIO()
    call_command("simulate_shop", "--preset", "media", "--customers", "150", "--days", "200", "--seed", "2",
                 "--out", str(tmp_path), stdout=stdout, stderr=io.StringIO())
    document = json.loads(stdout.getvalue())
    assert document["preset"] == "media" and document["customers"] == 150
    assert len(_read(tmp_path, "customers")) == 150
    assert len(_read(tmp_path, "products")) == PRESETS["media"].products  # not given: the preset's
    placed = pd.to_datetime(_read(tmp_path, "orders").placed_at, utc=True, format="ISO8601")
    assert (placed.max() - placed.min()).days < 200


def test_no_preset_keeps_the_default_shop():
    assert preset_config(None, seed=3) == SimulationConfig(customers=2000, products=500, days=365, seed=3)
    assert preset_config(None, customers=10, seed=3).profile == SimulationConfig(1, 1, 1, 0).profile


def test_unknown_preset_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="unknown preset 'toys'.*fashion, grocery, media"):
        call_command("simulate_shop", "--preset", "toys", "--out", str(tmp_path), stdout=io.StringIO(),
                     stderr=io.StringIO())
    with pytest.raises(ValueError, match="unknown preset"):
        preset_get("Grocery")
    assert not list(tmp_path.iterdir())  # nothing written


def test_an_out_folder_that_cannot_be_made_is_a_clear_error_not_a_traceback(tmp_path):
    # Third replay of issue 16: `--out` naming an existing file ended in a FileExistsError traceback.
    taken = tmp_path / "events.csv"
    taken.write_text("x")
    for out in (taken, taken / "shop"):
        with pytest.raises(CommandError, match=re.escape(f"--out {out}: ")):
            call_command("simulate_shop", "--preset", "media", "--customers", "20", "--products", "10", "--days",
                         "20", "--out", str(out), stdout=io.StringIO(), stderr=io.StringIO())
    assert taken.read_text() == "x"


def test_shape_figures_by_hand_so_the_comparison_with_real_shops_means_what_it_says():
    orders = pd.DataFrame({
        "order_id": ["a1", "a2", "a3", "b1", "b2", "c1", "c2", "d1"],
        "customer_id": ["A", "A", "A", "B", "B", "C", "C", "D"],
        "placed_at": ["2026-01-01T10:00:00Z", "2026-01-11T10:00:00Z", "2026-02-10T10:00:00Z",
                      "2026-01-05T09:00:00Z", "2026-01-05T18:00:00Z",  # B: twice on one day, never again
                      "2026-01-02T10:00:00Z", "2026-01-20T10:00:00Z", "2026-01-03T10:00:00Z"],
        "status": ["placed", "placed", "placed", "placed", "placed", "placed", "cancelled", "refunded"],
    })
    lines = pd.DataFrame({
        "order_id": ["a1", "a1", "a2", "a3", "a3", "a3", "b1", "b2", "b2", "c1", "c2", "d1"],
        "product_id": ["x", "y", "x", "x", "y", "z", "x", "w", "x", "y", "q", "y"],
    })
    shape = shop_shape(orders, lines)
    # C's second order is cancelled: C bought once; B bought twice but on one day
    assert shape.customers == 4 and shape.orders == 7
    assert shape.one_time_share == 0.75
    # gaps: A 10 and 30 days, B 0.375 days; only the 10 falls within 1-4 weeks
    assert shape.median_gap_days == 10 and shape.gap_1_4_weeks_share == pytest.approx(1 / 3)
    assert shape.mean_basket == pytest.approx(11 / 7)  # distinct products of the 7 orders that count
    # last orders of returning customers: a3 (x, y bought before; z not) and b2 (x bought in b1; w not)
    assert shape.repeat_share == pytest.approx(3 / 5)
    assert shape.new_item_share == pytest.approx(2 / 5)  # z and w first sold there
    assert shape.refund_share == pytest.approx(1 / 8)
    without_lines = shop_shape(orders.assign(item_count=["1", "2", "3", "1", "1", "1", "9", "1"]))
    assert without_lines.mean_basket == pytest.approx(10 / 7) and without_lines.repeat_share is None
