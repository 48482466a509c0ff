import time

import numpy as np
import pandas as pd
import pytest

from predictions.ml.explain import top_reasons

TEMPLATES = {
    "recency_days": lambda r: f"no order for {r['recency_days']:.0f} days",
    "carts_without_purchase_30d": lambda r: (
        f"{r['carts_without_purchase_30d']:.0f} carts abandoned" if r["carts_without_purchase_30d"] > 0 else None
    ),
    "overdue_ratio": lambda r: None if pd.isna(r["overdue_ratio"]) else "later than usual",
    "orders_90d": lambda r: "few recent orders",
    "trend_orders_90d_vs_prev": lambda r: "few recent orders",  # same text as orders_90d on purpose
}
COLUMNS = [
    "recency_days",
    "carts_without_purchase_30d",
    "overdue_ratio",
    "orders_90d",
    "trend_orders_90d_vs_prev",
    "ids",
]


def _X(rows):
    return pd.DataFrame(rows, columns=COLUMNS, dtype=np.float32)


def test_strongest_risk_drivers_come_first_and_untemplated_features_are_skipped():
    X = _X([[94, 3, 4.5, 0, -1, 7]])
    contrib = np.array([[0.5, 0.9, 0.2, -0.3, -0.1, 5.0]])  # "ids" pushes most but has no template
    assert top_reasons(contrib, X, templates=TEMPLATES, k=3) == [
        ["3 carts abandoned", "no order for 94 days", "later than usual"]
    ]


def test_template_returning_none_is_skipped_and_next_feature_used():
    X = _X([[10, 0, np.nan, 1, 0, 0]])
    contrib = np.array([[0.1, 0.9, 0.8, 0.3, 0.0, 0.0]])
    assert top_reasons(contrib, X, templates=TEMPLATES, k=2) == [["few recent orders", "no order for 10 days"]]


def test_duplicate_texts_appear_once():
    X = _X([[10, 0, 1, 0, -2, 0]])
    contrib = np.array([[0.1, 0.0, 0.0, 0.9, 0.8, 0.0]])
    assert top_reasons(contrib, X, templates=TEMPLATES, k=3) == [["few recent orders", "no order for 10 days"]]


def test_direction_minus_one_explains_what_lowers_the_probability():
    X = _X([[5, 2, 0.5, 3, 1, 0]])
    contrib = np.array([[-0.7, 0.9, -0.2, 0.4, 0.0, 0.0]])
    assert top_reasons(contrib, X, templates=TEMPLATES, k=3, direction=-1) == [
        ["no order for 5 days", "later than usual"]
    ]


def test_rows_with_nothing_pushing_up_get_no_reasons():
    X = _X([[5, 2, 0.5, 3, 1, 0], [50, 2, 0.5, 3, 1, 0]])
    contrib = np.array([[-0.7, -0.9, 0.0, -0.4, np.nan, 1.0], [0.2, 0, 0, 0, 0, 0]])
    assert top_reasons(contrib, X, templates=TEMPLATES, k=3) == [[], ["no order for 50 days"]]


def test_reasons_found_beyond_the_spare_candidates_when_templates_return_none():
    # Many templated features whose templates return None rank above the one that speaks.
    columns = [f"f{i}" for i in range(12)]
    templates = {name: (lambda r: None) for name in columns[:-1]}
    templates["f11"] = lambda r: "the last one"
    X = pd.DataFrame(np.zeros((1, 12)), columns=columns)
    contrib = np.linspace(1.0, 0.1, 12)[None, :]
    assert top_reasons(contrib, X, templates=templates, k=3) == [["the last one"]]


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match="shape"):
        top_reasons(np.zeros((2, 3)), _X([[0] * 6]), templates=TEMPLATES)


def test_fifty_thousand_rows_are_explained_quickly():
    rng = np.random.default_rng(0)
    n = 50_000
    X = _X(rng.random((n, len(COLUMNS))) * 10)
    contrib = rng.normal(size=(n, len(COLUMNS)))
    started = time.perf_counter()
    reasons = top_reasons(contrib, X, templates=TEMPLATES, k=3)
    assert time.perf_counter() - started < 5.0  # a per-row DataFrame.iloc / per-row sort takes far longer
    assert len(reasons) == n
    assert all(len(r) <= 3 for r in reasons)


def test_a_low_score_is_explained_by_what_keeps_it_low_not_by_a_risk():
    # The bug: a low-risk customer's "main reason" was the feature that nudged their churn score up a little
    # ("25 orders so far"), which read as a risk. Per-row directions explain a low score by what lowers it.
    from predictions.ml.explain import reason_directions
    from predictions.ml.reasons import REASON_TEMPLATES

    X = pd.DataFrame({"recency_days": [200.0, 4.0], "frequency_total": [3.0, 25.0], "mean_gap_days": [20.0, 15.0]})
    # Row 0: long gap raises churn a lot. Row 1: 25 orders nudge it up a little, a recent order lowers it a lot.
    contrib = np.array([[0.9, 0.1, 0.0], [-1.2, 0.05, 0.0]])
    p = np.array([0.82, 0.04])
    assert reason_directions(p, low_below=0.3).tolist() == [1, -1]
    reasons = top_reasons(contrib, X, templates=REASON_TEMPLATES, k=1, direction=reason_directions(p, low_below=0.3))
    assert reasons == [["no order for 200 days"], ["ordered 4 days ago"]]
    # With one direction for everybody the low-risk customer would read "25 orders so far" as a risk.
    assert top_reasons(contrib, X, templates=REASON_TEMPLATES, k=1, direction=+1)[1] == ["25 orders so far"]


def test_per_row_directions_must_match_the_rows():
    X = _X([[5, 2, 0.5, 3, 1, 0]])
    with pytest.raises(ValueError):
        top_reasons(np.zeros((1, 6)), X, templates=TEMPLATES, direction=np.array([1, -1]))
    with pytest.raises(ValueError):
        top_reasons(np.zeros((1, 6)), X, templates=TEMPLATES, direction=np.array([0]))


def test_recent_days_read_as_people_say_them():
    # Found by a new user's review: "Ordered 1 days ago", "Ordered 0 days ago".
    from predictions.ml.reasons import REASON_TEMPLATES

    recency, tenure = REASON_TEMPLATES["recency_days"], REASON_TEMPLATES["tenure_days"]
    ordered = pd.Series({"frequency_total": 3})
    assert [recency(pd.concat([ordered, pd.Series({"recency_days": d})])) for d in (0, 1, 12)] == [
        "ordered today", "ordered yesterday", "ordered 12 days ago"]
    assert recency(pd.Series({"frequency_total": 0, "recency_days": 1.0})) == "has never ordered (first seen yesterday)"
    assert tenure(pd.Series({"tenure_days": 0.4})) == "new customer (first seen today)"


@pytest.mark.parametrize("overdue_first", [True, False])
def test_a_reason_that_another_one_spells_out_appears_once_as_the_longer(overdue_first):
    """A new user's review (session 15): "No order for 126 days" beside "No order for 126 days; usually every 9"."""
    templates = {**TEMPLATES, "overdue_ratio": lambda r: f"no order for {r['recency_days']:.0f} days; usually every 9"}
    X = _X([[126, 2, 14, 0, 0, 0]])
    contrib = np.array([[0.8, 0.1, 0.9 if overdue_first else 0.7, 0.0, 0.0, 0.0]])
    assert top_reasons(contrib, X, templates=templates, k=3) == [
        ["no order for 126 days; usually every 9", "2 carts abandoned"]]


def test_a_reason_that_reads_against_the_heading_is_not_shown():
    """A new user's review (session 16): "Why the risk is low: Fewer orders than the 90 days before"."""
    from predictions.ml.explain import reason_directions
    from predictions.ml.reasons import churn_tone, purchase_tone

    templates = {"recency_days": lambda r: "ordered 5 days ago", "trend_orders_90d_vs_prev":
                 lambda r: "fewer orders than the 90 days before", "orders_90d": lambda r: "3 orders so far"}
    X = _X([[5, 0, 0, 3, -1, 0], [5, 0, 0, 3, -1, 0]])
    contrib = np.array([[-0.2, 0, 0, -0.1, -0.9, 0], [0.2, 0, 0, 0.1, 0.9, 0]])
    direction = reason_directions(np.array([0.07, 0.8]), low_below=0.3)  # low risk, then high risk
    assert top_reasons(contrib, X, templates=templates, k=3, direction=direction, tone=churn_tone) == [
        ["ordered 5 days ago", "3 orders so far"], ["fewer orders than the 90 days before", "3 orders so far"]]
    # The chance of buying reads them the other way round: a low one is not explained by a recent order.
    assert top_reasons(contrib, X, templates=templates, k=3, direction=direction, tone=purchase_tone) == [
        ["fewer orders than the 90 days before", "3 orders so far"], ["ordered 5 days ago", "3 orders so far"]]


@pytest.mark.parametrize(("text", "tone"), [
    ("no order for 126 days; usually every 9", 1), ("fewer orders than the 90 days before", 1),
    ("no visit in the last 30 days", 1), ("25 % of orders refunded", 1), ("left a 1-star review about price today", 1),
    ("ordered yesterday", -1), ("ordered 12 days ago", -1), ("more orders than the 90 days before", -1),
    ("3 visits in the last 30 days", -1), ("1 product view in 30 days", -1),
    ("a single order so far", 1), ("spent 4,845 EUR in the last 12 months", -1),
    ("new customer (first seen 12 days ago)", 1), ("customer for 1.3 years", -1), ("customer for 7 months", -1),
    ("3 orders so far", 0), ("9 orders so far", 0), ("16 orders so far", -1), ("1,042 orders so far", -1)])
def test_every_reason_text_reads_one_way_for_leaving(text, tone):
    from predictions.ml.reasons import churn_tone

    assert churn_tone(text) == tone


def test_without_a_models_attribution_the_order_history_explains_both_ways():
    """An outside review: a short history's BG/NBD champion had no LightGBM to attribute it, and every row had no
    reason. The rules on the order history explain a high risk and a low one, and the chance of buying read back."""
    from predictions.ml.explain import reason_directions
    from predictions.ml.features import FEATURE_NAMES
    from predictions.ml.reasons import REASON_TEMPLATES, churn_tone, order_history_contributions, purchase_tone

    rows = [  # recency, orders, usual gap, orders in 12 months
        (85, 4, 21.0, 4),  # a regular, overdue
        (40, 1, np.nan, 1),  # one order, a while ago
        (3, 16, 7.0, 16),  # a regular who just ordered
        (400, 3, 30.0, 0),  # gone for more than a year
    ]
    X = pd.DataFrame(np.nan, index=range(len(rows)), columns=FEATURE_NAMES)
    X[["recency_days", "frequency_total", "mean_gap_days", "orders_365d"]] = rows
    X["overdue_ratio"] = X["recency_days"] / X["mean_gap_days"]
    leaving = order_history_contributions(X)
    assert leaving.shape == X.shape and np.isfinite(leaving).all()
    churn = np.array([0.9, 0.8, 0.1, 0.95])
    assert top_reasons(leaving, X, templates=REASON_TEMPLATES, k=3, tone=churn_tone,
                       direction=reason_directions(churn, low_below=0.3)) == [
        ["no order for 85 days; usually every 21", "4 orders so far"],
        ["a single order so far", "no order for 40 days"],
        ["ordered 3 days ago", "16 orders so far"],
        ["no order for 400 days; usually every 30", "no order in the last 12 months", "3 orders so far"],
    ]
    assert top_reasons(-leaving, X, templates=REASON_TEMPLATES, k=3, tone=purchase_tone,
                       direction=reason_directions(1 - churn, low_below=0.3))[:3] == [
        ["no order for 85 days; usually every 21", "4 orders so far"],
        ["a single order so far", "no order for 40 days"],
        ["ordered 3 days ago", "16 orders so far"],
    ]


@pytest.mark.parametrize("tenure_days", [548, 10_921])  # 1.5 years; an imported 1997 customer's 29.9 years
def test_a_long_relationship_is_never_a_reason_for_risk_nor_for_a_low_chance_to_buy(tenure_days):
    """A new user's review (M7): "Customer for 1.5 years" as why the risk of leaving is high and why the chance of
    buying is low, "Customer for 29.9 years" as why buying is low; a marketer reads a long relationship as loyalty."""
    from predictions.ml.explain import reason_directions
    from predictions.ml.features import FEATURE_NAMES
    from predictions.ml.reasons import REASON_TEMPLATES, churn_tone, purchase_tone

    X = pd.DataFrame(np.nan, index=range(2), columns=FEATURE_NAMES)
    X[["tenure_days", "recency_days", "frequency_total"]] = [(tenure_days, 120, 3), (tenure_days, 120, 3)]
    contrib = np.zeros(X.shape)
    contrib[:, FEATURE_NAMES.index("tenure_days")] = [0.9, -0.9]  # the model's strongest push, each way
    contrib[:, FEATURE_NAMES.index("recency_days")] = [0.2, -0.2]
    years = f"customer for {tenure_days / 365.25:.1f} years"
    # Leaving: high (row 0) and low (row 1). A long relationship explains only a low risk.
    leaving = top_reasons(contrib, X, templates=REASON_TEMPLATES, k=3, tone=churn_tone,
                          direction=reason_directions(np.array([0.8, 0.1]), low_below=0.3))
    assert years not in leaving[0] and leaving[1][0] == years
    assert leaving == [["no order for 120 days"], [years]]
    # Buying: low (row 0: the tenure pushes it down most) and high (row 1: up).
    buying = top_reasons(-contrib, X, templates=REASON_TEMPLATES, k=3, tone=purchase_tone,
                         direction=reason_directions(np.array([0.1, 0.8]), low_below=0.3))
    assert buying == [["no order for 120 days"], [years]]


def test_a_new_customer_explains_a_risk_never_a_low_one():
    from predictions.ml.explain import reason_directions
    from predictions.ml.features import FEATURE_NAMES
    from predictions.ml.reasons import REASON_TEMPLATES, churn_tone

    X = pd.DataFrame(np.nan, index=range(2), columns=FEATURE_NAMES)
    X["tenure_days"] = 12.0
    contrib = np.zeros(X.shape)
    contrib[:, FEATURE_NAMES.index("tenure_days")] = [0.9, -0.9]
    reasons = top_reasons(contrib, X, templates=REASON_TEMPLATES, k=3, tone=churn_tone,
                          direction=reason_directions(np.array([0.8, 0.1]), low_below=0.3))
    assert reasons == [["new customer (first seen 12 days ago)"], []]


@pytest.mark.parametrize(("recency", "gap", "orders"), [
    (0.9, 0.4, 300),  # a catch-all customer ordering several times a day: "no order for 0 days; usually every 1"
    (1.2, 1.0, 60),  # every day, last order yesterday
    (40.0, 60.0, 4),  # every two months, last order 40 days ago: not late
])
def test_a_recency_that_is_not_overdue_is_never_a_reason_to_leave(recency, gap, orders):
    """An outside analyst: a catch-all customer with orders every day showed risk 0.535 with the reason "no order
    for 0 days; usually every 1"."""
    from predictions.ml.explain import reason_directions
    from predictions.ml.features import FEATURE_NAMES
    from predictions.ml.reasons import REASON_TEMPLATES, churn_tone

    X = pd.DataFrame(np.nan, index=range(1), columns=FEATURE_NAMES)
    X[["recency_days", "mean_gap_days", "frequency_total"]] = [(recency, gap, orders)]
    X["overdue_ratio"] = recency / gap
    contrib = np.zeros(X.shape)
    contrib[0, FEATURE_NAMES.index("overdue_ratio")] = 0.9  # the model's strongest push towards leaving
    contrib[0, FEATURE_NAMES.index("recency_days")] = 0.5
    high = top_reasons(contrib, X, templates=REASON_TEMPLATES, k=3, tone=churn_tone,
                       direction=reason_directions(np.array([0.535]), low_below=0.3))[0]
    assert not any(text.startswith("no order for") for text in high), high
    # Read as staying: a low risk is explained by it.
    low = top_reasons(-contrib, X, templates=REASON_TEMPLATES, k=3, tone=churn_tone,
                      direction=reason_directions(np.array([0.05]), low_below=0.3))[0]
    assert low and low[0].startswith("ordered ") and churn_tone(low[0]) == -1, low


def test_an_overdue_customer_still_reads_as_overdue():
    from predictions.ml.features import FEATURE_NAMES
    from predictions.ml.reasons import REASON_TEMPLATES

    X = pd.DataFrame(np.nan, index=range(2), columns=FEATURE_NAMES)
    X[["recency_days", "mean_gap_days", "frequency_total"]] = [(117.0, 35.0, 5), (2.4, 1.0, 30)]
    rows = [X.iloc[i] for i in range(2)]
    assert [REASON_TEMPLATES["overdue_ratio"](r) for r in rows] == [
        "no order for 117 days; usually every 35", "no order for 2 days; usually every 1"]
    assert [REASON_TEMPLATES["recency_days"](r) for r in rows] == ["no order for 117 days", "ordered 2 days ago"]
