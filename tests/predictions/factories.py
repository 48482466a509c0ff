"""Factories for scores, runs, segments — and the customers, orders and products they need."""

from datetime import UTC, datetime, timedelta

import factory
import numpy as np

from behavior.models import Customer
from predictions.models import CustomerScore, ModelVersion, ScoringRun, Segment
from tests.accounts.factories import ShopFactory
from tests.behavior import factories as behavior_factories
from tests.catalog import factories as catalog_factories

AS_OF = datetime(2024, 6, 1, tzinfo=UTC)


class CustomerFactory(behavior_factories.CustomerFactory):
    """A customer with personal data (the pages hide or show it by role) and no signup date."""

    external_id = factory.Sequence(lambda n: f"C{n:05d}")
    email = factory.LazyAttribute(lambda o: f"{o.external_id.lower()}@example.com")
    name = factory.LazyAttribute(lambda o: f"Name {o.external_id}")
    signup_at = None


class CategoryFactory(catalog_factories.CategoryFactory):
    class Meta:
        django_get_or_create = ()

    name = factory.Sequence(lambda n: f"Cat{n}")


class ProductFactory(catalog_factories.ProductFactory):
    external_id = factory.Sequence(lambda n: f"P{n:05d}")
    price = None


class OrderFactory(behavior_factories.OrderFactory):
    customer = factory.SubFactory(CustomerFactory)
    external_id = factory.Sequence(lambda n: f"O{n:06d}")
    placed_at = AS_OF
    total = 50
    currency = ""


class ScoringRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ScoringRun

    shop = factory.SubFactory(ShopFactory)
    as_of = AS_OF
    status = ScoringRun.Status.SUCCEEDED


class ModelVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelVersion

    shop = factory.SubFactory(ShopFactory)
    task = "churn"
    algorithm = "lgbm"
    horizon_days = 90
    as_of = AS_OF.date()
    status = ModelVersion.Status.CHAMPION
    metrics = factory.LazyFunction(lambda: {
        "captured_top_decile": 0.38, "lift_top_decile": 3.8,
        "calibration": [{"bin": 1, "mean_predicted": 0.1, "observed_rate": 0.12, "count": 10},
                        {"bin": 2, "mean_predicted": 0.7, "observed_rate": 0.68, "count": 10}],
    })


class CustomerScoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CustomerScore

    scoring_run = factory.SubFactory(ScoringRunFactory)
    shop = factory.SelfAttribute("scoring_run.shop")
    customer = factory.SubFactory(CustomerFactory, shop=factory.SelfAttribute("..shop"))
    task = "churn"
    probability = 0.5
    risk_band = factory.LazyAttribute(
        lambda o: "high" if o.probability >= 0.6 else "medium" if o.probability >= 0.3 else "low")
    decile = 5
    reasons = factory.LazyFunction(lambda: ["No order for 94 days; usually every 21"])
    spend_12m = 100.0
    revenue_at_risk = factory.LazyAttribute(lambda o: o.probability * o.spend_12m)
    scored_at = factory.LazyAttribute(lambda o: o.scoring_run.as_of)


class SegmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Segment

    shop = factory.SubFactory(ShopFactory)
    name = factory.Sequence(lambda n: f"Segment {n}")
    filters = factory.LazyFunction(dict)


def scored_customers(shop, run, specs):
    """Bulk-create customers with churn and purchase scores. specs: dicts with external_id, p, buy, spend, country,
    lapsed."""
    customers = Customer.objects.bulk_create([
        Customer(shop=shop, external_id=s["external_id"], email=s.get("email", f"{s['external_id']}@example.com"),
                 name=s.get("name", f"Name {s['external_id']}"), country=s.get("country", "DE"))
        for s in specs
    ])
    scores = []
    for c, s in zip(customers, specs, strict=True):
        p = s.get("p", 0.5)
        band = "high" if p >= 0.6 else "medium" if p >= 0.3 else "low"
        spend = s.get("spend", 100.0)
        scores.append(CustomerScore(shop=shop, scoring_run=run, customer=c, task="churn", probability=p,
                                    risk_band=band, decile=5, reasons=s.get("reasons", [f"reason of {c.external_id}"]),
                                    spend_12m=spend, revenue_at_risk=p * spend, scored_at=run.as_of,
                                    lapsed=s.get("lapsed", False)))
        if s.get("buy") is not None:
            scores.append(CustomerScore(shop=shop, scoring_run=run, customer=c, task="purchase",
                                        probability=s["buy"], risk_band="low", decile=5, spend_12m=spend,
                                        scored_at=run.as_of, lapsed=s.get("lapsed", False)))
    CustomerScore.objects.bulk_create(scores)
    return {c.external_id: c for c in customers}


def random_orders_shop(*, slug: str, customers: int, history_days: int, rate: float, horizon: int,
                       future_share: float, seed: int):
    """A numpy-built shop, orders only: each customer orders at random (Poisson, `rate` a day, the same for all, at
    least once) over `history_days`; in the `horizon` days after them, `future_share` of the customers order once
    more, and one last order ends the data at the horizon's end. Returns (shop, the history's last day)."""
    from accounts.models import Shop
    from behavior.models import Order

    rng = np.random.default_rng(seed)
    shop = Shop.objects.create(slug=slug, name=slug)
    start = datetime(2024, 1, 1, 10, tzinfo=UTC)
    cutoff = start + timedelta(days=history_days)
    made = Customer.objects.bulk_create([Customer(shop=shop, external_id=f"c{i}") for i in range(customers)])
    orders = []
    for c in made:
        days = list(np.sort(rng.uniform(0, history_days, max(1, rng.poisson(rate * history_days)))))
        if rng.random() < future_share:
            days.append(history_days + rng.uniform(1, horizon))
        orders += [Order(shop=shop, customer=c, external_id=f"{c.external_id}/{n}", total=30 + n,
                         placed_at=start + timedelta(days=float(day))) for n, day in enumerate(days)]
    orders.append(Order(shop=shop, customer=made[-1], external_id="end", total=30,
                        placed_at=cutoff + timedelta(days=horizon)))
    Order.objects.bulk_create(orders)
    return shop, cutoff.date()
