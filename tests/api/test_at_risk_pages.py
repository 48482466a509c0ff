"""The API keeps the first at-risk page of a filter in Redis (predictions.api.pages): a kept page answers the same
bytes as one read from PostgreSQL, never outlives a write that changes its rows or which run is current, and holds
no customer's email or name in clear."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from behavior.services import data_import
from predictions.models import CustomerScore
from privacy.services import customer_erase
from tests.api.conftest import assert_error
from tests.predictions.factories import ScoringRunFactory, scored_customers

pytestmark = pytest.mark.django_db
AT_RISK = "/api/v1/at-risk/"


def _ids(response) -> list[str]:
    assert response.status_code == 200, response.content[:300]
    return [row["customer_id"] for row in response.json()["results"]]


@pytest.mark.parametrize("query", ["", "?band=high", "?sort=churn&page_size=2", "?value_min=50&days_min=0"])
@pytest.mark.parametrize("role", ["admin", "marketer"])
def test_a_kept_page_answers_the_bytes_read_from_postgresql_for_each_role(clients, scored, query, role):
    # The admin's call keeps the page with emails and names: a marketer answered from it must still get nulls.
    clients["admin"].get(AT_RISK + query)
    kept = clients[role].get(AT_RISK + query)
    with override_settings(AT_RISK_PAGE_CACHE_SECONDS=0):
        read = clients[role].get(AT_RISK + query)
    assert kept.status_code == read.status_code == 200
    assert kept.content == read.content
    assert all((row["email"] is None) == (role != "admin") for row in kept.json()["results"])


def test_a_kept_page_is_answered_without_reading_the_rows(clients, scored):
    clients["marketer"].get(AT_RISK)
    with CaptureQueriesContext(connection) as queries:
        assert _ids(clients["marketer"].get(AT_RISK)) == ["C1", "C2", "C3", "C4", "C5"]
    tables = " ".join(q["sql"] for q in queries.captured_queries)
    # Nor the current run: the page names it, and a run saved retires the page.
    for table in ("predictions_customerscore", "behavior_customer", "predictions_scoringrun"):
        assert table not in tables


def test_only_filters_on_the_scores_own_columns_are_kept():
    from predictions.api.pages import at_risk_page_kept
    from predictions.filters import AtRiskFilter

    assert at_risk_page_kept(AtRiskFilter.from_query({"bands": "high", "churn_min": "50", "limit": "10"}))
    for other in ({"category": "3"}, {"brand": "Acme"}, {"brand": "Acme", "brand_min": "30"}, {"country": "DE"},
                  {"negative_review_days": "30"}, {"segment": "1"}):
        assert not at_risk_page_kept(AtRiskFilter.from_query(other)), other


def test_filters_on_other_tables_are_read_every_time(clients, scored):
    segment = scored["segment"]  # bands: high
    assert _ids(clients["marketer"].get(f"{AT_RISK}?segment={segment.pk}")) == ["C1", "C2", "C3"]
    segment.filters = {"bands": ["medium"]}
    segment.save(update_fields=["filters"])
    assert _ids(clients["marketer"].get(f"{AT_RISK}?segment={segment.pk}")) == ["C4", "C5"]


def test_an_erased_customer_never_shows_on_a_kept_page(clients, shop, scored):
    assert "C1" in _ids(clients["admin"].get(AT_RISK))
    customer_erase(shop=shop, external_ids=["C1"])
    assert _ids(clients["admin"].get(AT_RISK)) == ["C2", "C3", "C4", "C5"]
    assert "C1" not in _ids(clients["marketer"].get(AT_RISK))


def test_erasing_through_the_api_drops_the_customer_from_the_kept_page(clients, scored):
    assert "C2" in _ids(clients["admin"].get(AT_RISK))
    assert clients["admin"].delete("/api/v1/customers/C2/").status_code == 200
    assert _ids(clients["admin"].get(AT_RISK)) == ["C1", "C3", "C4", "C5"]


def test_an_import_changing_a_customer_shows_on_the_kept_page(clients, shop, scored, tmp_path):
    first = clients["admin"].get(AT_RISK).json()["results"][0]
    assert first["customer_id"] == "C1" and first["name"] != "Renamed Person"
    path = tmp_path / "customers.csv"
    path.write_text("customer_id,email,name,country\nC1,renamed@example.com,Renamed Person,FR\n")
    data_import(shop=shop, kind="customers", path=str(path))
    first = clients["admin"].get(AT_RISK).json()["results"][0]
    assert (first["email"], first["name"], first["country"]) == ("renamed@example.com", "Renamed Person", "FR")


def test_a_newer_run_replaces_a_kept_page_at_once(clients, shop, scored):
    assert _ids(clients["marketer"].get(AT_RISK)) == ["C1", "C2", "C3", "C4", "C5"]
    newer = ScoringRunFactory(shop=shop, as_of=scored["run"].as_of + timedelta(days=30))
    scored_customers(shop, newer, [{"external_id": "N1", "p": 0.99}])
    body = clients["marketer"].get(AT_RISK).json()
    assert body["scoring_run"]["id"] == newer.pk and [r["customer_id"] for r in body["results"]] == ["N1"]


def test_a_run_the_scoring_service_finishes_replaces_a_kept_page_at_once(clients, shop, scored):
    from predictions.services.scoring import _finalise

    assert _ids(clients["marketer"].get(AT_RISK)) == ["C1", "C2", "C3", "C4", "C5"]
    running = ScoringRunFactory(shop=shop, as_of=scored["run"].as_of + timedelta(days=30), status="running")
    scored_customers(shop, running, [{"external_id": "N1", "p": 0.99}])
    assert _ids(clients["marketer"].get(AT_RISK)) == ["C1", "C2", "C3", "C4", "C5"]  # not current yet
    _finalise(running)
    body = clients["marketer"].get(AT_RISK).json()
    assert body["scoring_run"]["id"] == running.pk and [r["customer_id"] for r in body["results"]] == ["N1"]


def test_a_current_run_that_fails_or_is_deleted_leaves_the_kept_page_at_once(clients, shop, scored):
    from predictions.services.scoring import scoring_run_fail

    older = ScoringRunFactory(shop=shop, as_of=scored["run"].as_of - timedelta(days=30))
    scored_customers(shop, older, [{"external_id": "O1", "p": 0.9}])
    assert clients["marketer"].get(AT_RISK).json()["scoring_run"]["id"] == scored["run"].pk
    scoring_run_fail(run_id=scored["run"].pk, error="a late chunk failed")
    body = clients["marketer"].get(AT_RISK).json()
    assert body["scoring_run"]["id"] == older.pk and [r["customer_id"] for r in body["results"]] == ["O1"]
    older.delete()
    body = clients["marketer"].get(AT_RISK).json()
    assert body["scoring_run"] is None and body["results"] == []


def test_a_failing_chunk_of_a_run_deleted_meanwhile_is_no_error(shop, scored):
    from predictions.services.scoring import scoring_run_fail

    run_id = scored["run"].pk
    scored["run"].delete()
    scoring_run_fail(run_id=run_id, error="late")  # nothing to fail, nothing raised


def test_a_kept_value_that_is_not_a_page_is_read_again(clients, shop, scored):
    from ecomsight.crypto import personal_seal

    read = clients["admin"].get(AT_RISK).content
    (key,) = cache.keys(f"at-risk-page:*:{shop.pk}:{shop.created_at.timestamp()}:*")
    generation, _ = cache.get(key)
    cache.set(key, (generation, personal_seal(b'{"rows": [], "ordered_by": "an older release"}')), 60)
    assert clients["admin"].get(AT_RISK).content == read


def test_a_page_kept_for_a_shop_of_a_recreated_database_is_not_served(clients, shop, scored):
    # Redis may outlive the database: a new shop with the same id (here: the same shop, another creation time)
    # must not be answered from the old one's pages, even under the same generation.
    assert _ids(clients["admin"].get(AT_RISK)) == ["C1", "C2", "C3", "C4", "C5"]
    CustomerScore.objects.filter(customer__external_id="C1", task="churn").update(probability=0.01,
                                                                                   revenue_at_risk=0.01)
    type(shop).objects.filter(pk=shop.pk).update(created_at=shop.created_at - timedelta(days=1))
    cache.delete_many(cache.keys("api-token:*"))  # the tokens' kept copies hold the shop as it was
    assert _ids(clients["admin"].get(AT_RISK))[-1] == "C1"


def test_a_row_changed_outside_the_services_shows_once_the_page_expires(clients, scored):
    assert _ids(clients["marketer"].get(AT_RISK))[0] == "C1"
    CustomerScore.objects.filter(customer__external_id="C1", task="churn").update(probability=0.01,
                                                                                   revenue_at_risk=0.01)
    assert _ids(clients["marketer"].get(AT_RISK))[0] == "C1"  # kept: a write in SQL does not retire it
    cache.delete_many(cache.keys("at-risk-page:*"))  # what AT_RISK_PAGE_CACHE_SECONDS does
    assert _ids(clients["marketer"].get(AT_RISK))[-1] == "C1"


def test_a_kept_page_holds_no_email_or_name_in_clear(clients, scored):
    body = clients["admin"].get(AT_RISK).json()
    emails = [row["email"] for row in body["results"]]
    assert all(emails)
    kept = cache.get_many(cache.keys("at-risk-page:*"))
    assert kept
    raw = repr(list(kept.values())).encode()
    for row in body["results"]:
        assert row["email"].encode() not in raw and row["name"].encode() not in raw


def test_with_redis_down_the_page_is_read_from_postgresql(clients, scored, settings):
    settings.CACHES = {"default": {"BACKEND": "django_redis.cache.RedisCache",
                                   "LOCATION": "redis://127.0.0.1:1/0",
                                   "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "IGNORE_EXCEPTIONS": False}}}
    settings.API_TOKEN_CACHE_SECONDS = 0
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token": None}}
    assert _ids(clients["marketer"].get(AT_RISK)) == ["C1", "C2", "C3", "C4", "C5"]


def test_a_filter_validated_once_per_process_answers_each_query_as_before(clients, scored):
    # The validated filter is kept per query (predictions.api.views.at_risk_filter); a refused value is refused
    # every time, and the paging parameters do not change which filter is read.
    for _ in range(2):
        refused = assert_error(clients["analyst"].get("/api/v1/at-risk/?band=purple"), 400)
        assert refused["field"] == "band"
    first = clients["analyst"].get("/api/v1/at-risk/?band=high&churn_min=0.5").json()
    again = clients["analyst"].get("/api/v1/at-risk/?churn_min=0.5&band=high&page_size=50").json()
    assert first["results"] and again["results"] == first["results"]
    assert {row["risk_band"] for row in first["results"]} == {"high"}
    assert all(row["churn_probability"] >= 0.5 for row in first["results"])
    assert clients["analyst"].get("/api/v1/at-risk/?band=low").json()["results"] != first["results"]
