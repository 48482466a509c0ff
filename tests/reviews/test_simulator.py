"""The simulator writes reviews that follow the customer's experience, and they import cleanly."""

import pandas as pd
import pytest

from behavior.models import Review
from behavior.services import data_import
from behavior.simulator import SimulationConfig, simulate


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    simulate(SimulationConfig(customers=600, products=60, days=365, seed=2), out)
    return out


def test_reviews_are_deterministic_and_worse_for_refunds_and_customers_who_left(sim, tmp_path):
    reviews = pd.read_csv(sim / "reviews.csv", dtype=str, keep_default_na=False)
    again = tmp_path / "again"
    simulate(SimulationConfig(customers=600, products=60, days=365, seed=2), again)
    assert (again / "reviews.csv").read_bytes() == (sim / "reviews.csv").read_bytes()
    assert len(reviews) > 100 and (reviews["rating"] == "").mean() > 0.1  # some text-only reviews
    orders = pd.read_csv(sim / "orders.csv", dtype=str)
    last = orders.assign(at=pd.to_datetime(orders["placed_at"])).groupby("customer_id")["at"].max()
    left = set(last[last < last.max() - pd.Timedelta(days=120)].index)
    rated = reviews[reviews["rating"] != ""].assign(stars=lambda f: f["rating"].astype(int))
    by_leaver = rated.groupby(rated["customer_id"].isin(left))["stars"].mean()
    assert by_leaver[True] < by_leaver[False] - 0.3


@pytest.mark.django_db
def test_simulated_reviews_import_without_rejects(shop, sim):
    for kind in ("customers", "products", "orders", "order_lines", "reviews"):
        result = data_import(shop=shop, kind=kind, path=sim / f"{kind}.csv")
        assert result.rejected == 0
    assert Review.objects.filter(shop=shop, customer__is_stub=False, product__isnull=False).count() == result.inserted
