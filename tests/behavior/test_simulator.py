"""The shop simulator: files in the import formats, deterministic, and a truth that the future obeys.

Pure file checks: no database."""

import csv
import io
import json
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from behavior.simulator import COLUMNS, SimulationConfig, simulate

END = pd.Timestamp("2026-06-30", tz="UTC")
WINDOW_END = END + pd.Timedelta(days=1)  # data covers whole days up to and including END
SMALL = SimulationConfig(customers=400, products=80, days=120, seed=7, future_days=30)
MAIN_FILES = ["customers", "products", "orders", "order_lines", "events"]


def _run(tmp_path_factory, config: SimulationConfig, name: str) -> Path:
    out = tmp_path_factory.mktemp(name)
    simulate(config, out)
    return out


def _read(out: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(out / f"{name}.csv", dtype=str, keep_default_na=False)


def _times(column: pd.Series) -> pd.Series:
    return pd.to_datetime(column, utc=True, format="ISO8601")


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    return _run(tmp_path_factory, SMALL, "small")


@pytest.fixture(scope="module")
def calibration(tmp_path_factory) -> Path:
    return _run(tmp_path_factory, SimulationConfig(customers=3000, products=200, days=365, seed=11, future_days=90),
                "calibration")


@pytest.fixture(scope="module")
def dirty(tmp_path_factory) -> Path:
    return _run(tmp_path_factory, SimulationConfig(customers=400, products=80, days=120, seed=7, dirty=True), "dirty")


def test_same_seed_same_bytes_and_other_seed_other_data_so_experiments_repeat(small, tmp_path):
    again, other = tmp_path / "again", tmp_path / "other"
    simulate(SMALL, again)
    simulate(SimulationConfig(customers=400, products=80, days=120, seed=8, future_days=30), other)
    for name in [*MAIN_FILES, "truth", "future_orders", "future_order_lines"]:
        assert (small / f"{name}.csv").read_bytes() == (again / f"{name}.csv").read_bytes(), name
    assert (small / "orders.csv").read_bytes() != (other / "orders.csv").read_bytes()
    assert (small / "events.csv").read_bytes() != (other / "events.csv").read_bytes()


def test_window_files_do_not_change_with_future_days_so_the_future_cannot_leak(small, tmp_path):
    simulate(SimulationConfig(customers=400, products=80, days=120, seed=7), tmp_path)
    for name in [*MAIN_FILES, "truth"]:
        assert (small / f"{name}.csv").read_bytes() == (tmp_path / f"{name}.csv").read_bytes(), name
    assert not (tmp_path / "future_orders.csv").exists()


@pytest.mark.parametrize("name", [*MAIN_FILES, "truth", "future_orders", "future_order_lines"])
def test_every_file_has_exactly_the_import_format_columns(small, name):
    header = (small / f"{name}.csv").read_text(encoding="utf-8").splitlines()[0]
    expected = COLUMNS["orders" if name == "future_orders" else "order_lines" if name == "future_order_lines" else name]
    assert header.split(",") == expected
    if name in MAIN_FILES:
        assert expected == {
            "customers": ["customer_id", "email", "name", "country", "signup_at"],
            "products": ["product_id", "title", "description", "category", "brand", "price", "active"],
            "orders": ["order_id", "customer_id", "placed_at", "total", "currency", "status", "item_count"],
            "order_lines": ["order_id", "product_id", "quantity", "unit_price"],
            "events": ["event_id", "customer_id", "type", "product_id", "occurred_at", "session_id", "properties"],
        }[name]


def test_references_resolve_in_clean_mode_so_imports_create_no_stubs(small):
    customers, products = set(_read(small, "customers").customer_id), set(_read(small, "products").product_id)
    orders, lines, events = _read(small, "orders"), _read(small, "order_lines"), _read(small, "events")
    assert len(orders) > 100 and len(events) > 1000
    assert set(orders.customer_id) <= customers
    assert set(lines.order_id) == set(orders.order_id)  # every order has lines, every line an order
    assert set(lines.product_id) <= products
    assert set(events.customer_id) <= customers
    assert set(events.product_id) - {""} <= products
    assert not lines.duplicated(["order_id", "product_id"]).any()  # one line per (order, product)
    assert orders.order_id.is_unique and events.event_id.is_unique and len(customers) == 400
    future, future_lines = _read(small, "future_orders"), _read(small, "future_order_lines")
    assert set(future.customer_id) <= customers and not set(future.order_id) & set(orders.order_id)
    assert set(future_lines.order_id) == set(future.order_id)


def test_no_timestamp_outside_the_window_and_future_within_horizon(small):
    start = WINDOW_END - pd.Timedelta(days=SMALL.days)
    for name, column in [("orders", "placed_at"), ("events", "occurred_at")]:
        when = _times(_read(small, name)[column])
        assert when.min() >= start and when.max() < WINDOW_END, name
        assert when.is_monotonic_increasing, name
    assert _times(_read(small, "customers").signup_at).max() < WINDOW_END
    future = _times(_read(small, "future_orders").placed_at)
    assert len(future) > 0
    assert future.min() >= WINDOW_END and future.max() < WINDOW_END + pd.Timedelta(days=SMALL.future_days)


def test_signup_never_after_the_customers_first_activity(small):
    signup = _read(small, "customers").set_index("customer_id").signup_at.pipe(_times)
    events = _read(small, "events")
    first = events.assign(t=_times(events.occurred_at)).groupby("customer_id").t.min()
    assert (signup[first.index] <= first).all()


def test_order_totals_and_item_counts_add_up_from_lines(small):
    orders = _read(small, "orders").set_index("order_id")
    lines = _read(small, "order_lines")
    qty = lines.quantity.astype(int)
    gross = (qty * lines.unit_price.astype(float)).groupby(lines.order_id).sum()
    items = qty.groupby(lines.order_id).sum()
    assert (orders.item_count.astype(int) == items[orders.index]).all()
    total = orders.total.astype(float)
    # Equal to the lines, or less by an occasional order-level coupon (never more).
    assert (total <= gross[orders.index] + 0.005).all() and (total >= 0.9 * gross[orders.index] - 0.01).all()
    assert set(orders.status) <= {"placed", "cancelled", "refunded"} and (orders.status == "placed").mean() > 0.85
    assert set(orders.currency) == {"EUR"}


def test_catalogue_has_category_paths_late_launches_and_inactive_products(calibration):
    products = _read(calibration, "products")
    assert products.category.str.fullmatch(r"[A-Z][\w &-]+ > [A-Z][\w &-]+").all()
    assert products.price.astype(float).gt(0).all()
    assert 0 < (products.active == "false").sum() < 0.1 * len(products)
    lines, orders = _read(calibration, "order_lines"), _read(calibration, "orders")
    sold = lines.merge(orders, on="order_id")
    first_sold = _times(sold.placed_at).groupby(sold.product_id).min()
    # Products launched mid-window are first sold well after the start (the popular ones sell at once).
    assert (first_sold > WINDOW_END - pd.Timedelta(days=200)).sum() >= 10


def test_purchases_are_preceded_by_views_of_the_bought_products(small):
    events, orders, lines = _read(small, "events"), _read(small, "orders"), _read(small, "order_lines")
    bought = lines.merge(orders, on="order_id")[["customer_id", "product_id", "placed_at"]]
    views = events[events.type == "view"][["customer_id", "product_id", "occurred_at"]]
    joined = bought.merge(views, on=["customer_id", "product_id"])
    before = joined[(_times(joined.occurred_at) <= _times(joined.placed_at))
                    & (_times(joined.occurred_at) > _times(joined.placed_at) - pd.Timedelta(hours=1))]
    seen = before.drop_duplicates(["customer_id", "product_id", "placed_at"])
    assert len(seen) >= 0.95 * len(bought.drop_duplicates())
    assert {"view", "add_to_cart", "remove_from_cart", "wishlist", "search", "review", "login"} <= set(events.type)
    for text in events.properties[events.properties != ""].unique():
        assert isinstance(json.loads(text), dict)


def test_truth_probabilities_bounded_nested_and_zero_for_dead_customers(calibration):
    truth = pd.read_csv(calibration / "truth.csv")
    assert len(truth) == 3000 and truth.customer_id.is_unique
    assert truth.p_purchase_30.between(0, 1).all() and truth.p_purchase_90.between(0, 1).all()
    assert (truth.p_purchase_90 >= truth.p_purchase_30).all()
    dead = truth[truth.alive == 0]
    assert (dead.p_purchase_30 == 0).all() and (dead.p_purchase_90 == 0).all()
    assert truth[truth.alive == 1].p_purchase_90.gt(0).all()
    # Some customers stop buying, but not most of them.
    assert 0.2 < len(dead) / len(truth) < 0.8


@pytest.mark.parametrize("horizon", [30, 90])
def test_truth_is_calibrated_against_the_sampled_future(calibration, horizon):
    truth = pd.read_csv(calibration / "truth.csv")
    future = _read(calibration, "future_orders")
    future = future[(future.status != "cancelled")
                    & (_times(future.placed_at) < WINDOW_END + pd.Timedelta(days=horizon))]
    bought = truth.customer_id.isin(set(future.customer_id)).to_numpy()
    p = truth[f"p_purchase_{horizon}"].to_numpy()
    # Sum of independent Bernoullis: the observed count stays within 4 standard deviations.
    z = (bought.sum() - p.sum()) / np.sqrt((p * (1 - p)).sum())
    assert abs(z) < 4, (bought.mean(), p.mean())
    # And it discriminates: the top fifth by truth buys far more often than the bottom fifth.
    order = np.argsort(p)
    assert bought[order[-600:]].mean() > 0.7 > 0.05 > bought[order[:600]].mean()


def test_dying_customers_browse_less_after_their_last_order_so_events_carry_signal(calibration):
    """Dead customers' searches (browsing sessions only) in the 6 weeks after their last order fall well
    below their rate while they were buying: engagement decays before a customer is lost."""
    truth = pd.read_csv(calibration / "truth.csv").set_index("customer_id")
    orders, events = _read(calibration, "orders"), _read(calibration, "events")
    span = orders.assign(t=_times(orders.placed_at)).groupby("customer_id").t.agg(["min", "max", "size"])
    dead = span[(span["size"] >= 3) & (span["max"] < WINDOW_END - pd.Timedelta(days=60))].index
    dead = dead.intersection(truth.index[truth.alive == 0])
    searches = events[events.type == "search"].merge(span.loc[dead].reset_index(), on="customer_id")
    when = _times(searches.occurred_at)
    buying_days = (span.loc[dead, "max"] - span.loc[dead, "min"]).dt.total_seconds().sum() / 86400
    while_buying = ((when > searches["min"]) & (when <= searches["max"])).sum() / buying_days
    after_last = ((when > searches["max"]) & (when <= searches["max"] + pd.Timedelta(days=42))).sum() / (42 * len(dead))
    assert len(dead) > 100
    assert after_last < 0.55 * while_buying


def _dirty_rows(out: Path, name: str) -> list[list[str]]:
    with open(out / name, encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def _bad_date(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return True
    return False


def _bad_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return True
    return False


def test_dirty_manifest_points_at_lines_that_really_hold_each_fault(dirty, small):
    manifest = json.loads((dirty / "dirty_manifest.json").read_text())
    assert set(manifest) == {f"{name}.csv" for name in MAIN_FILES}
    customers = set(_read(small, "customers").customer_id)
    products = set(_read(small, "products").product_id)
    column_of = {"missing_customer_id": "customer_id", "missing_product_id": "product_id",
                 "missing_placed_at": "placed_at", "unknown_customer": "customer_id",
                 "unknown_product": "product_id", "non_numeric_total": "total"}
    date_column = {"customers.csv": "signup_at", "orders.csv": "placed_at", "events.csv": "occurred_at"}
    checks = {
        "missing_customer_id": lambda v: v == "", "missing_product_id": lambda v: v == "",
        "missing_placed_at": lambda v: v == "", "unknown_customer": lambda v: v and v not in customers,
        "unknown_product": lambda v: v and v not in products, "non_numeric_total": _bad_number,
    }
    seen_kinds = set()
    for name, faults in manifest.items():
        rows = _dirty_rows(dirty, name)
        header = rows[0]
        clean_count = len(_read(small, name.removesuffix(".csv")))
        assert len(rows) - 1 == clean_count + len(faults.get("duplicate_row", [])), name
        for kind, lines in faults.items():
            assert lines, (name, kind)
            seen_kinds.add(kind)
            for line in lines:
                row = rows[line - 1]  # line 1 is the header
                if kind == "duplicate_row":
                    assert row == rows[line - 2], (name, line)
                elif kind == "out_of_order":
                    continue
                elif kind == "unparseable_date":
                    assert _bad_date(row[header.index(date_column[name])]), (name, line)
                elif kind == "non_numeric_price":
                    column = "price" if name == "products.csv" else "unit_price"
                    assert _bad_number(row[header.index(column)]), (name, line)
                else:
                    assert checks[kind](row[header.index(column_of[kind])]), (name, kind, line)
        if "out_of_order" in faults:
            block = faults["out_of_order"]
            assert block == list(range(block[0], block[0] + len(block)))
            times = [rows[line - 1][header.index(date_column[name])] for line in block]
            assert times != sorted(times), name
    assert {"duplicate_row", "missing_customer_id", "missing_placed_at", "unknown_customer", "unknown_product",
            "unparseable_date", "non_numeric_total", "non_numeric_price", "out_of_order"} <= seen_kinds


def test_dirty_mode_leaves_truth_and_unmentioned_lines_untouched(dirty, small):
    assert (dirty / "truth.csv").read_bytes() == (small / "truth.csv").read_bytes()
    manifest = json.loads((dirty / "dirty_manifest.json").read_text())["orders.csv"]
    spoiled = {line for lines in manifest.values() for line in lines}
    clean = (small / "orders.csv").read_text().splitlines()
    dirty_lines = [line for number, line in enumerate((dirty / "orders.csv").read_text().splitlines(), start=1)
                   if number not in spoiled]
    # Apart from the listed lines the file is the clean one, in the same order.
    assert set(dirty_lines) <= set(clean)
    assert len(dirty_lines) == len(clean) - len(spoiled) + len(manifest.get("duplicate_row", []))


def test_command_prints_one_json_line_and_writes_the_files(tmp_path):
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command("simulate_shop", "--customers", "200", "--products", "40", "--days", "60", "--seed", "3",
                 "--out", str(tmp_path), "--future-days", "30", "--end-date", "2025-12-31",
                 stdout=stdout, stderr=stderr)
    lines = stdout.getvalue().strip().splitlines()
    assert len(lines) == 1
    document = json.loads(lines[0])
    assert {"out", "customers", "products", "orders", "order_lines", "events", "seconds"} <= set(document)
    assert document["out"] == str(tmp_path) and document["customers"] == 200
    for name in ("orders", "order_lines", "events"):
        assert document[name] == len(_read(tmp_path, name)) > 0
    assert stderr.getvalue()  # progress went to stderr
    placed = _times(_read(tmp_path, "orders").placed_at)
    assert placed.max() < pd.Timestamp(date(2026, 1, 1), tz="UTC")
    assert (tmp_path / "future_orders.csv").exists() and (tmp_path / "truth.csv").exists()


@pytest.mark.parametrize("args", [["--end-date", "2025-02-30"], ["--customers", "0"], ["--days", "-5"]])
def test_command_rejects_bad_arguments_with_a_clear_error(tmp_path, args):
    with pytest.raises(CommandError):
        call_command("simulate_shop", "--out", str(tmp_path), *args, stdout=io.StringIO(), stderr=io.StringIO())
