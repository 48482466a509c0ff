"""At-risk pages kept per process for API_PAGE_CACHE_SECONDS (predictions.api.selectors.at_risk_page_rows):
a page polled again within the window costs no page query, each role still sees only what it may, and
nothing a user changes stays hidden for longer than the window."""

import time
from datetime import timedelta

import pytest

from behavior.models import Customer
from predictions.api import selectors as api_selectors
from predictions.services.score_columns import customer_score_list_columns_fill
from tests.conftest import calls_counted
from tests.predictions.factories import ScoringRunFactory, scored_customers

AT_RISK = "/api/v1/at-risk/"


@pytest.fixture
def page_reads(monkeypatch):
    """Each time a page's rows are read from the database (the real read, counted)."""
    return calls_counted(monkeypatch, api_selectors, "at_risk_values_slice")


@pytest.fixture
def window(settings, scored):
    """Pages kept for 0.5 s; `scored`'s run has its list columns copied, as every run finished today has."""
    customer_score_list_columns_fill(run=scored["run"])
    settings.API_PAGE_CACHE_SECONDS = 0.5
    return settings.API_PAGE_CACHE_SECONDS


def _emails(client, path: str = AT_RISK) -> list:
    response = client.get(path)
    assert response.status_code == 200
    return [row["email"] for row in response.json()["results"]]


def test_a_page_polled_again_within_the_window_is_not_read_again(clients, scored, window, page_reads):
    client = clients["admin"]
    first = client.get(AT_RISK).json()
    assert len(page_reads) == 1 and [r["customer_id"] for r in first["results"]] == ["C1", "C2", "C3", "C4", "C5"]
    assert client.get(AT_RISK).json() == first
    assert len(page_reads) == 1
    # Another filter, page size or page is another page.
    client.get(AT_RISK, {"band": "high"})
    client.get(AT_RISK, {"page_size": 2})
    assert len(page_reads) == 3


def test_a_customer_change_shows_once_the_window_has_passed(clients, scored, window):
    client = clients["admin"]
    assert _emails(client)[0] == "C1@example.com"
    Customer.objects.filter(pk=scored["customers"]["C1"].pk).update(email="new@example.com")
    time.sleep(window + 0.1)
    assert _emails(client)[0] == "new@example.com"


def test_each_role_sees_its_own_rows_of_a_kept_page(clients, scored, window):
    assert _emails(clients["admin"])[0] == "C1@example.com"
    assert set(_emails(clients["marketer"])) == {None}  # marketers see no personal data, kept page or not
    assert _emails(clients["admin"])[0] == "C1@example.com"


def test_a_new_run_is_listed_at_once_whatever_was_kept(clients, shop, scored, window):
    client = clients["marketer"]
    assert client.get(AT_RISK).json()["scoring_run"]["id"] == scored["run"].pk
    newer = ScoringRunFactory(shop=shop, as_of=scored["run"].as_of + timedelta(days=1))
    scored_customers(shop, newer, [{"external_id": "N1", "p": 0.99}])
    body = client.get(AT_RISK).json()
    assert body["scoring_run"]["id"] == newer.pk and [r["customer_id"] for r in body["results"]] == ["N1"]


def test_segment_pages_and_a_zero_window_read_every_time(clients, scored, settings, page_reads):
    client = clients["admin"]
    members = f"/api/v1/segments/{scored['segment'].pk}/members/"
    client.get(members)
    client.get(members)
    assert len(page_reads) == 2  # a segment's filters can change: never kept
    settings.API_PAGE_CACHE_SECONDS = 0
    assert _emails(client)[0] == "C1@example.com"
    Customer.objects.filter(pk=scored["customers"]["C1"].pk).update(email="now@example.com")
    assert _emails(client)[0] == "now@example.com"
    assert len(page_reads) == 4


@pytest.fixture
def bound(monkeypatch):
    """An empty page store of this test's own, holding at most `bound(rows)` rows."""
    def set_bound(rows: int) -> None:
        monkeypatch.setattr(api_selectors, "_PAGES_MAX_ROWS", rows)
        monkeypatch.setattr(api_selectors, "_pages", type(api_selectors._pages)())
        monkeypatch.setattr(api_selectors, "_pages_rows", 0)
    return set_bound


def test_kept_pages_are_bounded_by_rows_least_recently_read_out_first(clients, scored, window, bound):
    bound(9)
    client = clients["admin"]
    for size in (1, 2, 3):  # pages of 2, 3 and 4 rows (one more than the page, for the next link)
        client.get(AT_RISK, {"page_size": size})
    assert [len(rows) for _, rows in api_selectors._pages.values()] == [2, 3, 4]
    client.get(AT_RISK, {"page_size": 1})  # read again (kept): no longer the least recently read
    client.get(AT_RISK, {"page_size": 4})  # 5 rows: the least recently read pages make room
    assert [len(rows) for _, rows in api_selectors._pages.values()] == [2, 5]
    assert api_selectors._pages_rows == 7


def test_pages_of_a_run_without_copied_list_columns_are_read_every_time(clients, shop, settings, page_reads):
    # Such runs (finished before the columns existed) compute the last order from live orders: an import can
    # change their pages at any moment.
    settings.API_PAGE_CACHE_SECONDS = 60
    run = ScoringRunFactory(shop=shop)
    scored_customers(shop, run, [{"external_id": "L1", "p": 0.9}])
    client = clients["marketer"]
    client.get(AT_RISK, {"sort": "last_order"})
    client.get(AT_RISK, {"sort": "last_order"})
    assert len(page_reads) == 2


def test_empty_pages_count_towards_the_bound(clients, scored, window, bound):
    bound(5)
    client = clients["admin"]
    for value in range(100_000, 100_020):  # 20 filters matching nobody
        assert client.get(AT_RISK, {"value_min": value}).json()["results"] == []
    assert len(api_selectors._pages) == 5 and api_selectors._pages_rows == 5
