"""The interest profile's maths: time decay, shares that sum to 1, a category holding those below it."""

import numpy as np
import pandas as pd
import pytest

from predictions.ml.interests import InterestConfig, interest_profile

CUTOFF = pd.Timestamp("2026-06-30", tz="UTC")
ALL = InterestConfig(min_share=0.0)


def lines(rows):
    """rows: (customer, days before the cutoff, product)."""
    return pd.DataFrame({"customer_id": pd.Series([r[0] for r in rows], dtype="int64"),
                         "placed_at": [CUTOFF - pd.Timedelta(days=r[1]) for r in rows],
                         "product_id": pd.Series([r[2] for r in rows], dtype="int64")})


def events(rows):
    """rows: (customer, days before the cutoff, type, product or None)."""
    return pd.DataFrame({"customer_id": pd.Series([r[0] for r in rows], dtype="int64"),
                         "occurred_at": pd.Series([CUTOFF - pd.Timedelta(days=r[1]) for r in rows],
                                                  dtype="datetime64[ns, UTC]"),
                         "type": pd.Series([r[2] for r in rows], dtype="str"),
                         "product_id": pd.Series([r[3] for r in rows], dtype="float64")})


NO_EVENTS = events([])
# Categories: 1 Home, 2 Home > Kitchen, 3 Home > Garden, 4 Toys. Products 10-13 one in each, brand A/B/C/none.
PARENTS = {1: None, 2: 1, 3: 1, 4: None}
PRODUCTS = pd.DataFrame({"product_id": pd.Series([10, 11, 12, 13, 14], dtype="int64"),
                         "category_id": [1.0, 2.0, 3.0, 4.0, np.nan], "brand": ["A", "B", "B", "", "C"]})


def shares(profile, customer, kind):
    rows = profile[(profile["customer_id"] == customer) & (profile["kind"] == kind)]
    key = "category_id" if kind == "category" else "brand"
    return dict(zip(rows[key].map(lambda k: int(k) if kind == "category" else k), rows["share"], strict=True))


def test_a_purchase_one_half_life_ago_weighs_half_of_one_today():
    profile = interest_profile(order_lines=lines([(1, 0, 11), (1, 180, 13)]), events=NO_EVENTS, products=PRODUCTS,
                               category_parents=PARENTS, cutoff=CUTOFF, config=ALL)
    got = shares(profile, 1, "category")
    assert got[2] == pytest.approx(1 / 1.5)  # today's Kitchen line weighs 1, the Toys one 0.5
    assert got[4] == pytest.approx(0.5 / 1.5)


def test_shares_of_one_tree_level_and_of_brands_sum_to_one_and_a_category_holds_those_below_it():
    rng = np.random.default_rng(3)
    rows = [(c, int(rng.integers(0, 400)), int(rng.choice([10, 11, 12, 13, 14]))) for c in range(1, 30)
            for _ in range(int(rng.integers(1, 12)))]
    profile = interest_profile(order_lines=lines(rows), events=NO_EVENTS, products=PRODUCTS,
                               category_parents=PARENTS, cutoff=CUTOFF, config=ALL)
    for customer in range(1, 30):
        category = shares(profile, customer, "category")
        if not category:  # they bought only the product without a category
            continue
        assert category.get(1, 0) + category.get(4, 0) == pytest.approx(1.0)  # the roots: every line once
        assert category.get(1, 0) >= category.get(2, 0) + category.get(3, 0) - 1e-12  # Home holds its children
        brand = shares(profile, customer, "brand")
        if brand:
            assert sum(brand.values()) == pytest.approx(1.0)
    assert profile["share"].between(0, 1, inclusive="right").all()


def test_views_count_less_than_purchases_and_events_after_the_cutoff_not_at_all():
    profile = interest_profile(
        order_lines=lines([(1, 0, 11)]),
        events=events([(1, 0, "view", 13), (1, 0, "search", 12), (1, -5, "view", 12), (1, 0, "login", None)]),
        products=PRODUCTS, category_parents=PARENTS, cutoff=CUTOFF, config=ALL)
    got = shares(profile, 1, "category")
    view = ALL.event_weights["view"]
    assert got[4] == pytest.approx(view / (1 + view))  # one view of a toy beside one kitchen purchase
    assert 3 not in got  # the search and the view after the cutoff are ignored


def test_a_customer_with_only_views_gets_a_profile_from_them():
    profile = interest_profile(order_lines=lines([]), events=events([(7, 3, "view", 12), (7, 3, "add_to_cart", 10)]),
                               products=PRODUCTS, category_parents=PARENTS, cutoff=CUTOFF, config=ALL)
    assert shares(profile, 7, "brand") == pytest.approx({"B": 0.2 / 0.7, "A": 0.5 / 0.7})


def test_small_shares_are_left_out():
    rows = [(1, 0, 11)] * 99 + [(1, 0, 13)]
    profile = interest_profile(order_lines=lines(rows), events=NO_EVENTS, products=PRODUCTS,
                               category_parents=PARENTS, cutoff=CUTOFF, config=InterestConfig(min_share=0.02))
    assert set(shares(profile, 1, "category")) == {1, 2}  # Toys at 1 % is below the 2 % kept


def test_only_the_strongest_brands_are_kept():
    products = pd.DataFrame({"product_id": pd.Series(range(100, 110), dtype="int64"), "category_id": np.nan,
                             "brand": [f"B{i}" for i in range(10)]})
    rows = [(1, 0, 100 + i) for i in range(10) for _ in range(i + 1)]  # brand Bi bought i + 1 times
    profile = interest_profile(order_lines=lines(rows), events=NO_EVENTS, products=products, category_parents={},
                               cutoff=CUTOFF, config=InterestConfig(min_share=0.0, top_brands=3))
    assert list(profile["brand"]) == ["B9", "B8", "B7"]
    assert profile["share"].iloc[0] == pytest.approx(10 / 55)  # shares of all brands, not of the three kept


def test_a_shop_without_categories_or_brands_gets_an_empty_profile():
    bare = pd.DataFrame({"product_id": pd.Series([10], dtype="int64"), "category_id": [np.nan], "brand": [""]})
    for products in (bare, bare.iloc[0:0]):
        profile = interest_profile(order_lines=lines([(1, 0, 10)]), events=NO_EVENTS, products=products,
                                   category_parents={}, cutoff=CUTOFF)
        assert profile.empty and list(profile.columns) == ["customer_id", "kind", "category_id", "brand", "share"]


def test_a_cycle_in_the_category_tree_does_not_hang():
    profile = interest_profile(order_lines=lines([(1, 0, 11)]), events=NO_EVENTS, products=PRODUCTS,
                               category_parents={1: 2, 2: 1}, cutoff=CUTOFF, config=ALL)
    assert shares(profile, 1, "category") == {2: 1.0, 1: 1.0}
