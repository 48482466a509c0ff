"""What every API call relies on, read fresh on each call: token checks (revocation, role, expiry) and the
throttle's count; the paged reads of recommendations, scores and the at-risk list."""

from datetime import timedelta
from unittest import mock

import pytest
from django.core.cache import cache
from django.utils import timezone
from django_redis import get_redis_connection

from accounts.models import ApiToken
from accounts.services import membership_set
from accounts.tokens import api_token_create, api_token_revoke, token_hash
from ecomsight.api.throttling import token_ident, window_count
from predictions.models import CustomerScore
from recommendations.models import Recommendation, RecommenderVersion
from tests.predictions.factories import ScoringRunFactory, scored_customers

from .conftest import assert_error, bearer

ME = "/api/v1/me/"


def test_a_revocation_written_in_sql_applies_once_the_cached_token_expires(users, shop, settings):
    issued = api_token_create(user=users["admin"], shop=shop, name="ci")
    client = bearer(issued.plain)
    assert client.get(ME).status_code == 200
    # A SQL console revokes: no signal, so the verified token stays cached for API_TOKEN_CACHE_SECONDS.
    ApiToken.objects.filter(pk=issued.token.pk).update(revoked_at=timezone.now())
    assert client.get(ME).status_code == 200
    cache.delete(f"api-token:{issued.token.key_hash}")  # what the cache's expiry does
    assert "revoked" in assert_error(client.get(ME), 401)["message"]
    settings.API_TOKEN_CACHE_SECONDS = 0  # no cache: every call reads the row
    other = api_token_create(user=users["admin"], shop=shop, name="ci2")
    assert bearer(other.plain).get(ME).status_code == 200
    ApiToken.objects.filter(pk=other.token.pk).update(revoked_at=timezone.now())
    assert_error(bearer(other.plain).get(ME), 401)


def test_a_revocation_in_the_django_admin_applies_to_the_next_request(users, shop):
    issued = api_token_create(user=users["admin"], shop=shop, name="ci")
    client = bearer(issued.plain)
    assert client.get(ME).status_code == 200
    token = ApiToken.objects.get(pk=issued.token.pk)
    token.revoked_at = timezone.now()
    token.save()  # a model save anywhere (the admin's form, a shell) drops the cached token
    assert "revoked" in assert_error(client.get(ME), 401)["message"]


@pytest.mark.parametrize("change", ["demote", "take_shop", "deactivate", "revoke"])
def test_changes_to_the_tokens_owner_apply_to_the_next_request(users, shop, tokens, change):
    client = bearer(tokens["admin"])
    assert client.get(ME).json()["role"] == "admin"
    admin = users["admin"]
    if change == "demote":
        membership_set(shop=shop, user=admin, role="marketer")
        assert client.get(ME).json()["role"] == "marketer"
        return
    if change == "take_shop":
        admin.shops.remove(shop)
    elif change == "deactivate":
        admin.is_active = False
        admin.save()
    else:
        api_token_revoke(token=ApiToken.objects.get(key_hash=token_hash(tokens["admin"])))
    assert_error(client.get(ME), 401)


def test_personal_data_follows_a_role_change_at_once(users, shop, tokens, scored):
    client = bearer(tokens["admin"])
    assert client.get("/api/v1/at-risk/").json()["results"][0]["email"] is not None
    membership_set(shop=shop, user=users["admin"], role="analyst")
    assert client.get("/api/v1/at-risk/").json()["results"][0]["email"] is None


def test_a_token_expires_on_time(users, shop):
    issued = api_token_create(user=users["analyst"], shop=shop, name="short", expires_days=1)
    assert bearer(issued.plain).get(ME).status_code == 200
    later = timezone.now() + timedelta(days=2)
    with mock.patch("accounts.tokens.timezone.now", return_value=later):
        assert "expired" in assert_error(bearer(issued.plain).get(ME), 401)["message"]


def test_throttle_window_key_expires_so_counters_never_pile_up_in_redis(db):
    key = f"test-throttle:{timezone.now().timestamp()}"
    assert [window_count(key, ttl=7) for _ in range(3)] == [1, 2, 3]
    assert 0 < _redis().ttl(cache.make_key(key)) <= 7


def _redis():
    return get_redis_connection("default")  # the tests read Redis itself: key expiry, and a token's windows


def _throttle_counts(plain: str) -> int:
    # This token's counters only: other tests' keys expire on their own clock (a minute after their last
    # count) and, summed in, made this test fail when one expired between the two reads.
    ident = token_ident(token_hash(plain))
    return sum(int(_redis().get(k)) for k in _redis().scan_iter(match=f"*api-throttle:*:{ident}:*"))


def test_a_request_counts_once_against_its_tokens_limit(tokens):
    client = bearer(tokens["analyst"])
    before = _throttle_counts(tokens["analyst"])
    assert client.get(ME).status_code == 200
    assert _throttle_counts(tokens["analyst"]) - before == 1


def _all_pages(client, path: str, page_size: int, *, bodies: list | None = None) -> list[dict]:
    results, url = [], f"{path}{'&' if '?' in path else '?'}page_size={page_size}"
    while url:
        body = client.get(url).json()
        if bodies is not None:
            bodies.append(body)
        results += body["results"]
        url = body["next"]
    return results


def test_recommendations_first_page_equals_paging_through_them(clients, scored):
    client = clients["marketer"]
    for product, price in zip(scored["products"][1:], ["18.90", "12345678.99"], strict=True):
        product.price = price
        product.save(update_fields=["price"])
    first_response = client.get("/api/v1/customers/C1/recommendations/")
    fast = first_response.json()
    assert fast["next"] is None and fast["previous"] is None
    assert fast["results"] == _all_pages(client, "/api/v1/customers/C1/recommendations/", 1)
    assert fast["results"][0]["product"] == {"id": "P1", "title": "Product 1", "price": None, "active": True}
    assert [r["product"]["price"] for r in fast["results"][1:]] == [18.9, 12345678.99]
    assert b'"price":18.9,' in first_response.content  # the bytes the serializer's Decimal gives


def test_recommendations_of_a_retired_build_are_not_served(clients, scored):
    assert Recommendation.objects.exists()
    RecommenderVersion.objects.update(status=RecommenderVersion.Status.RETIRED)
    assert clients["marketer"].get("/api/v1/customers/C1/recommendations/").json()["results"] == []


def test_scores_first_page_equals_paging_through_them(clients, shop, scored):
    newer = ScoringRunFactory(shop=shop, as_of=scored["run"].as_of + timedelta(days=30))
    CustomerScore.objects.create(shop=shop, scoring_run=newer, customer=scored["customers"]["C1"], task="churn",
                                 probability=0.3, risk_band="medium", decile=6, reasons=["No order for 40 days"],
                                 spend_12m=50, revenue_at_risk=15, scored_at=newer.as_of)
    client = clients["marketer"]
    fast = client.get("/api/v1/customers/C1/scores/").json()
    paged = client.get("/api/v1/customers/C1/scores/?page_size=1").json()
    assert fast["results"] == _all_pages(client, "/api/v1/customers/C1/scores/", 1)
    assert fast["current"] == paged["current"]
    assert fast["current"]["churn"]["scoring_run"] == newer.pk and fast["current"]["churn"]["probability"] == 0.3
    assert fast["current"]["churn"]["reasons"] == ["No order for 40 days"] and fast["current"]["purchase"] is None
    # Every page, reached forwards or back, with or without a task filter, shows the same current scores (read in
    # the page's own statement: SqlRows' `also`).
    for path in ("/api/v1/customers/C1/scores/", "/api/v1/customers/C1/scores/?task=churn"):
        bodies: list[dict] = []
        _all_pages(client, path, 1, bodies=bodies)
        assert len(bodies) >= 2 and all(body["current"] == fast["current"] for body in bodies), path
        back = client.get(bodies[-1]["previous"]).json()
        assert back["results"] == bodies[-2]["results"] and back["current"] == fast["current"], path


def test_at_risk_answers_each_filter_and_a_newer_run_at_once(clients, shop, scored):
    client = clients["admin"]
    high = [r["customer_id"] for r in client.get("/api/v1/at-risk/", {"band": "high"}).json()["results"]]
    medium = [r["customer_id"] for r in client.get("/api/v1/at-risk/", {"band": "medium"}).json()["results"]]
    assert high == ["C1", "C2", "C3"] and medium == ["C4", "C5"]
    assert [r["customer_id"] for r in client.get("/api/v1/at-risk/", {"band": "high"}).json()["results"]] == high
    newer = ScoringRunFactory(shop=shop, as_of=scored["run"].as_of + timedelta(days=30))
    scored_customers(shop, newer, [{"external_id": "N1", "p": 0.99}])
    body = client.get("/api/v1/at-risk/", {"band": "high"}).json()
    assert body["scoring_run"]["id"] == newer.pk and [r["customer_id"] for r in body["results"]] == ["N1"]


@pytest.mark.parametrize("query", [{}, {"band": "high"}, {"sort": "value"}, {"days_min": "0", "sort": "last_order"}])
def test_the_api_lists_the_rows_the_web_page_shows(clients, shop, scored, query):
    from predictions.filters import AtRiskFilter
    from predictions.selectors.at_risk import at_risk_page

    page = at_risk_page(shop=shop, flt=AtRiskFilter.from_query(query))
    body = clients["admin"].get("/api/v1/at-risk/", query).json()
    assert [(r["customer_id"], r["email"], r["churn_probability"], r["revenue_at_risk"], r["days_since_last_order"])
            for r in body["results"]] == [
        (row.external_id, row.email, row.churn_probability, row.revenue_at_risk, row.days_since_last_order)
        for row in page.rows]
    assert body["results"]


def test_the_cached_token_holds_no_password_hash(users, shop):
    import pickle

    issued = api_token_create(user=users["admin"], shop=shop, name="cache")
    assert bearer(issued.plain).get(ME).status_code == 200
    cached = cache.get(f"api-token:{issued.token.key_hash}")
    assert cached is not None and cached.user.pk == users["admin"].pk
    assert "password" in cached.user.get_deferred_fields()
    assert users["admin"].password.encode() not in pickle.dumps(cached)
