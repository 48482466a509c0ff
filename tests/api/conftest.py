"""Shops, users of every role, their tokens and API clients; a small scored shop."""

from datetime import UTC, datetime

import pytest
from rest_framework.test import APIClient

from accounts.tokens import api_token_create
from catalog.models import Product
from predictions.models import ModelVersion, Segment
from recommendations.models import Recommendation, RecommenderVersion, SimilarProduct
from tests.accounts.factories import UserFactory
from tests.predictions.factories import ScoringRunFactory, scored_customers

ROLES = ("marketer", "analyst", "admin")


def bearer(plain: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
    return client


@pytest.fixture
def users(shop, other_shop):
    return {role: UserFactory(username=role, role=role, shops=[shop, other_shop]) for role in ROLES}


@pytest.fixture
def tokens(users, shop):
    """Plain tokens of each role, acting for `shop`."""
    return {role: api_token_create(user=user, shop=shop, name=f"{role} token").plain for role, user in users.items()}


@pytest.fixture
def clients(tokens):
    return {role: bearer(plain) for role, plain in tokens.items()} | {"anonymous": APIClient()}


@pytest.fixture
def other_client(users, other_shop):
    """An admin token of the other shop: it must never see `shop`'s data."""
    return bearer(api_token_create(user=users["admin"], shop=other_shop, name="other").plain)


@pytest.fixture
def scored(shop):
    """Five scored customers (C1 riskiest), recommendations, similar products, a segment and a model."""
    run = ScoringRunFactory(shop=shop, as_of=datetime(2026, 6, 30, tzinfo=UTC))
    specs = [{"external_id": f"C{i}", "p": 0.9 - i * 0.1, "buy": 0.1 * i, "spend": 100.0} for i in range(1, 6)]
    customers = scored_customers(shop, run, specs)
    products = [Product.objects.create(shop=shop, external_id=f"P{i}", title=f"Product {i}") for i in range(1, 4)]
    version = RecommenderVersion.objects.create(shop=shop, status=RecommenderVersion.Status.ACTIVE)
    Recommendation.objects.bulk_create([
        Recommendation(shop=shop, version=version, customer=customers["C1"], product=p, rank=r, score=1 / r,
                       source="popularity", reason="popular") for r, p in enumerate(products, start=1)])
    SimilarProduct.objects.create(shop=shop, version=version, product=products[0], similar=products[1],
                                  kind="content", rank=1, score=0.5)
    segment = Segment.objects.create(shop=shop, name="High", filters={"bands": ["high"]})
    model = ModelVersion.objects.create(shop=shop, task="churn", algorithm="lgbm", horizon_days=90,
                                        as_of=datetime(2026, 6, 30).date(), metrics={"roc_auc": 0.8},
                                        status=ModelVersion.Status.CANDIDATE)
    return {"run": run, "customers": customers, "products": products, "segment": segment, "model": model}


def assert_error(response, status: int, code: str | None = None) -> dict:
    """The response is the API's one error format with this status (and code)."""
    assert response.status_code == status, (response.status_code, getattr(response, "content", b"")[:500])
    body = response.json()
    assert set(body) == {"status", "code", "message", "field"}, body
    assert body["status"] == status and body["message"]
    if code is not None:
        assert body["code"] == code, body
    return body
