"""The API's hot paths: cached token verification (and its invalidation), the one-round-trip throttle, and
the SQL fast paths of recommendations, scores and the at-risk list agreeing with the paged ORM paths."""

import time
from datetime import timedelta
from unittest import mock

import pytest
from django.conf import settings
from django.utils import timezone

from accounts import tokens as accounts_tokens
from accounts.models import ApiToken
from accounts.services import membership_set
from accounts.tokens import api_token_authenticate, api_token_create, api_token_revoke, token_hash
from ecomsight.api import shared
from ecomsight.api.rediscache import redis_client, redis_key
from ecomsight.api.throttling import token_ident, window_count
from predictions.models import CustomerScore
from recommendations.models import Recommendation, RecommenderVersion
from tests.predictions.factories import ScoringRunFactory, scored_customers

from .conftest import assert_error, bearer

ME = "/api/v1/me/"


def _another_process_bumps_the_generation() -> None:
    # What auth_cache_invalidate() in another process leaves behind: only the shared generation changes;
    # this process's own cache is untouched.
    redis_client().set(redis_key(accounts_tokens.GENERATION_KEY), f"other-process-{timezone.now().timestamp()}")


def test_cached_token_costs_no_database_query(tokens, synced_by_hand, django_assert_num_queries):
    # synced_by_hand: the fixtures' token writes moved the generation; a sync falling between the two calls
    # would rightly drop the token cached under the older one (this failed about one run in five).
    api_token_authenticate(plain=tokens["analyst"])
    with django_assert_num_queries(0):
        token = api_token_authenticate(plain=tokens["analyst"])
    assert token.role == "analyst" and token.shop.slug == "acme" and token.user.username == "analyst"


def test_cached_token_is_a_copy_so_a_view_cannot_change_the_next_request(tokens):
    first = api_token_authenticate(plain=tokens["admin"])
    first.role = "marketer"
    first.user.username = "mallory"
    again = api_token_authenticate(plain=tokens["admin"])
    assert again.role == "admin" and again.user.username == "admin"


def test_revocation_in_another_process_is_seen_within_the_sync_interval(users, shop):
    issued = api_token_create(user=users["admin"], shop=shop, name="ci")
    client = bearer(issued.plain)
    assert client.get(ME).status_code == 200  # now cached in this process
    # Another process revokes: the row changes without any signal here, and the shared generation moves.
    ApiToken.objects.filter(pk=issued.token.pk).update(revoked_at=timezone.now())
    _another_process_bumps_the_generation()
    time.sleep(settings.API_SYNC_SECONDS + 0.05)  # this process reads the generation at its next sync
    assert "revoked" in assert_error(client.get(ME), 401)["message"]


@pytest.mark.parametrize("change", ["demote", "take_shop", "deactivate", "revoke"])
def test_changes_after_the_token_was_cached_apply_to_the_next_request(users, shop, tokens, change):
    client = bearer(tokens["admin"])
    assert client.get(ME).json()["role"] == "admin"  # cached
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


def test_personal_data_follows_a_role_change_of_a_cached_token(users, shop, tokens, scored):
    client = bearer(tokens["admin"])
    assert client.get("/api/v1/at-risk/").json()["results"][0]["email"] is not None
    membership_set(shop=shop, user=users["admin"], role="analyst")
    assert client.get("/api/v1/at-risk/").json()["results"][0]["email"] is None


def test_cached_token_still_expires_on_time(users, shop):
    issued = api_token_create(user=users["analyst"], shop=shop, name="short", expires_days=1)
    assert bearer(issued.plain).get(ME).status_code == 200
    later = timezone.now() + timedelta(days=2)
    with mock.patch("accounts.tokens.timezone.now", return_value=later):
        assert "expired" in assert_error(bearer(issued.plain).get(ME), 401)["message"]


def test_cache_entries_expire_after_the_ttl_even_without_a_generation_change(tokens, monkeypatch):
    plain = tokens["marketer"]
    api_token_authenticate(plain=plain)
    # A write that sends no signal (QuerySet.update) is only seen once the entry is older than the TTL.
    ApiToken.objects.filter(key_hash=token_hash(plain)).update(revoked_at=timezone.now())
    real_monotonic = accounts_tokens.time.monotonic
    monkeypatch.setattr(accounts_tokens.time, "monotonic",
                        lambda: real_monotonic() + accounts_tokens.AUTH_CACHE_SECONDS + 1)
    with pytest.raises(accounts_tokens.TokenInvalid, match="revoked"):
        api_token_authenticate(plain=plain)


def test_throttle_window_key_expires_so_counters_never_pile_up_in_redis(db):
    key = f"test-throttle:{timezone.now().timestamp()}"
    assert [window_count(key, ttl=7) for _ in range(3)] == [1, 2, 3]
    assert 0 < redis_client().ttl(redis_key(key)) <= 7


def test_the_throttle_is_counted_with_the_token_check_and_reaches_redis_at_the_next_sync(tokens):
    key = f"test-counted:{timezone.now().timestamp()}"
    first = api_token_authenticate(plain=tokens["marketer"], count=(key, 61))
    second = api_token_authenticate(plain=tokens["marketer"], count=(key, 61))
    assert (first.counted, second.counted) == ((key, 1), (key, 2))
    shared.sync(force=True)
    assert int(redis_client().get(redis_key(key))) == 2 and 0 < redis_client().ttl(redis_key(key)) <= 61


def _throttle_counts(plain: str) -> int:
    # This token's counters only: other tests' keys expire on their own clock (a minute after their last
    # count) and, summed in, made this test fail when one expired between the two reads.
    shared.sync(force=True)
    ident = token_ident(token_hash(plain))
    return sum(int(redis_client().get(k)) for k in redis_client().scan_iter(match=f"*api-throttle:*:{ident}:*"))


def test_a_request_counts_once_against_its_tokens_limit(tokens):
    client = bearer(tokens["analyst"])
    before = _throttle_counts(tokens["analyst"])
    assert client.get(ME).status_code == 200
    assert _throttle_counts(tokens["analyst"]) - before == 1


def _prepared_statements() -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def test_hot_reads_run_as_prepared_statements_with_the_same_answers_as_unprepared(clients, scored, settings):
    client = clients["marketer"]
    paths = ["/api/v1/customers/C1/recommendations/", "/api/v1/customers/C1/scores/", "/api/v1/at-risk/"]
    settings.DATABASE_PREPARED_STATEMENTS = False
    plain = [client.get(path).json() for path in paths]
    assert not any("recommendations_recommendation" in s for s in _prepared_statements())
    settings.DATABASE_PREPARED_STATEMENTS = True
    assert [client.get(path).json() for path in paths] == plain
    assert [client.get(path).json() for path in paths] == plain  # executed by name the second time
    statements = _prepared_statements()
    for table in ("recommendations_recommendation", "predictions_customerscore", "predictions_scoringrun"):
        assert any(table in s for s in statements), table


def _all_pages(client, path: str, page_size: int) -> list[dict]:
    results, url = [], f"{path}?page_size={page_size}"
    while url:
        body = client.get(url).json()
        results += body["results"]
        url = body["next"]
    return results


def test_recommendations_fast_first_page_equals_the_paged_path(clients, scored):
    client = clients["marketer"]
    for product, price in zip(scored["products"][1:], ["18.90", "12345678.99"], strict=True):
        product.price = price
        product.save(update_fields=["price"])
    fast_response = client.get("/api/v1/customers/C1/recommendations/")
    fast = fast_response.json()
    assert fast["next"] is None and fast["previous"] is None
    assert fast["results"] == _all_pages(client, "/api/v1/customers/C1/recommendations/", 1)
    assert fast["results"][0]["product"] == {"id": "P1", "title": "Product 1", "price": None, "active": True}
    assert [r["product"]["price"] for r in fast["results"][1:]] == [18.9, 12345678.99]
    assert b'"price":18.9,' in fast_response.content  # the bytes the serializer's Decimal gives


def test_recommendations_of_a_retired_build_are_not_served(clients, scored):
    assert Recommendation.objects.exists()
    RecommenderVersion.objects.update(status=RecommenderVersion.Status.RETIRED)
    assert clients["marketer"].get("/api/v1/customers/C1/recommendations/").json()["results"] == []


def test_scores_fast_first_page_equals_the_paged_path(clients, shop, scored):
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


def test_at_risk_compiled_sql_is_not_reused_for_another_filter_or_a_newer_run(clients, shop, scored):
    client = clients["admin"]
    high = [r["customer_id"] for r in client.get("/api/v1/at-risk/", {"band": "high"}).json()["results"]]
    medium = [r["customer_id"] for r in client.get("/api/v1/at-risk/", {"band": "medium"}).json()["results"]]
    assert high == ["C1", "C2", "C3"] and medium == ["C4", "C5"]
    assert [r["customer_id"] for r in client.get("/api/v1/at-risk/", {"band": "high"}).json()["results"]] == high
    newer = ScoringRunFactory(shop=shop, as_of=scored["run"].as_of + timedelta(days=30))
    scored_customers(shop, newer, [{"external_id": "N1", "p": 0.99}])
    body = client.get("/api/v1/at-risk/", {"band": "high"}).json()
    assert body["scoring_run"]["id"] == newer.pk and [r["customer_id"] for r in body["results"]] == ["N1"]
