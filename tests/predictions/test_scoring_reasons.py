"""Reasons in plain words when the champion has no LightGBM attribution: a shop with a short history, whose
champions are label-free (BG/NBD or Pareto/NBD), gets its reasons from the customers' order history."""

import datetime as dt
import re

import numpy as np
import pytest

from behavior.models import Customer, Order
from predictions.ml.pipeline import LABEL_FREE, MEDIUM_RISK
from predictions.ml.reasons import churn_tone, purchase_tone
from predictions.models import CustomerScore
from predictions.services.scoring import scoring_run_create, scoring_run_execute
from predictions.services.training import model_train

END = dt.datetime(2024, 3, 1, 12, tzinfo=dt.UTC)
WEEKS = 8


@pytest.fixture
def short_shop(shop):
    """8 weeks of orders (the default 90-day horizon cannot be labelled): one-time buyers, regulars, and regulars
    who ordered every few days for three weeks and then stopped ("lapsed-*")."""
    rng = np.random.default_rng(11)
    start = END - dt.timedelta(weeks=WEEKS)
    plans: dict[str, list[float]] = {}  # customer -> days after start of each order
    for i in range(150):
        plans[f"once-{i}"] = [rng.uniform(0, 7 * WEEKS)]
    for i in range(100):
        gap = rng.uniform(4, 12)
        plans[f"regular-{i}"] = list(np.arange(rng.uniform(0, gap), 7 * WEEKS, gap))
    for i in range(50):
        plans[f"lapsed-{i}"] = list(np.arange(rng.uniform(0, 3), 21, rng.uniform(3, 5)))
    customers = Customer.objects.bulk_create([Customer(shop=shop, external_id=name) for name in plans])
    Order.objects.bulk_create([
        Order(shop=shop, customer=c, external_id=f"{c.external_id}/{n}", total=20 + n,
              placed_at=start + dt.timedelta(days=float(day)))
        for c in customers for n, day in enumerate(plans[c.external_id])
    ])
    return shop


@pytest.mark.django_db
def test_a_short_history_shops_label_free_champion_gives_reasons_in_plain_words(short_shop):
    # Bug: no LightGBM could be trained beside the label-free champion, so nothing attributed the scores and
    # every row of the run had `reasons = []` (7,692 of 7,692 churn rows of an 8-week shop).
    for task in ("churn", "purchase"):
        outcome = model_train(shop=short_shop, task=task, algorithms=["bgnbd", "paretonbd", "lgbm"])
        assert outcome.champion.algorithm in LABEL_FREE and "lgbm" in outcome.errors
    run = scoring_run_execute(run=scoring_run_create(shop=short_shop, enqueue=False))
    scores = list(CustomerScore.objects.filter(scoring_run=run).select_related("customer"))
    churn = [s for s in scores if s.task == "churn"]
    assert len(churn) == 300
    at_risk = [s for s in churn if s.risk_band != "low"]
    assert at_risk and all(s.reasons for s in at_risk)  # every at-risk row says why
    # Each reason reads the way of its heading: why at risk for a medium or high chance of leaving, why not for a low
    for s in churn:
        assert all(churn_tone(text) * (1 if s.risk_band != "low" else -1) >= 0 for text in s.reasons), s.reasons
    # A regular who stopped: days since the last order against their usual gap, as the supervised path says it.
    lapsed = [s for s in churn if s.customer.external_id.startswith("lapsed-")]
    assert all(re.fullmatch(r"no order for \d+ days; usually every \d+", s.reasons[0]) for s in lapsed)
    assert all("a single order so far" in s.reasons for s in churn if s.customer.external_id.startswith("once-"))

    purchase = [s for s in scores if s.task == "purchase"]
    # A low chance of buying says why (the same order history, read the other way); a higher one too.
    assert all(s.reasons for s in purchase if s.risk_band == "low")
    assert sum(bool(s.reasons) for s in purchase) > 0.9 * len(purchase)
    for s in purchase:
        heading = 1 if s.probability >= MEDIUM_RISK else -1
        assert all(purchase_tone(text) * heading >= 0 for text in s.reasons), s.reasons
    assert all(re.fullmatch(r"no order for \d+ days; usually every \d+", s.reasons[0])
               for s in purchase if s.customer.external_id.startswith("lapsed-") and s.risk_band == "low")
