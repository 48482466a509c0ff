"""The set-based writes over a whole scoring run keep a sound plan whoever calls them (issue 22 item 6).

100,000 customers with a churn row, a purchase row and an order each are written in SQL (generate_series) just
before the write, so the tables' statistics know nothing of them. Each write runs with PostgreSQL's
auto_explain reporting every plan it executes: no plan may hold a Nested Loop (with wrong estimates, the join
of the run's churn and purchase rows became one: 100,000 x 100,000 row visits). A statement timeout turns a
degraded plan into a failure instead of a hung test."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import connection

from predictions.models import CustomerScore, ScoringRun
from predictions.selectors.at_risk import LIST_COLUMNS
from predictions.services.score_columns import (
    customer_score_deciles_bounds,
    customer_score_deciles_fill,
    customer_score_deciles_place,
    customer_score_list_columns_fill,
)
from tests.predictions.factories import AS_OF, ScoringRunFactory

N = 100_000
pytestmark = pytest.mark.slow


@pytest.fixture
def big_run(shop) -> ScoringRun:
    run = ScoringRunFactory(shop=shop, as_of=AS_OF)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO behavior_customer (shop_id, external_id, email, name, country, attributes, is_stub, "
            "created_at) SELECT %s, 'B' || i, '', '', '', '{}'::jsonb, false, now() FROM generate_series(1, %s) i",
            [shop.pk, N])
        cursor.execute(
            "INSERT INTO behavior_order (shop_id, external_id, customer_id, placed_at, currency, status, offer_code) "
            "SELECT %s, 'O' || id, id, %s - (id %% 300) * interval '1 day', 'EUR', 'placed', '' "
            "FROM behavior_customer WHERE shop_id = %s", [shop.pk, AS_OF, shop.pk])
        for task, probability in (("churn", "(c.id %% 1000) / 1000.0"), ("purchase", "1 - (c.id %% 997) / 997.0")):
            cursor.execute(
                "INSERT INTO predictions_customerscore (shop_id, scoring_run_id, customer_id, task, probability, "
                "risk_band, decile, reasons, spend_12m, scored_at) "
                f"SELECT %s, %s, c.id, %s, {probability}, 'low', 10, '[]'::jsonb, 0, now() "
                "FROM behavior_customer c WHERE c.shop_id = %s", [shop.pk, run.pk, task, shop.pk])
    return run


@pytest.fixture
def plans():
    """Every plan PostgreSQL executes in this test, as auto_explain's JSON documents (sent as notices)."""
    found: list[dict] = []
    connection.ensure_connection()
    raw = connection.connection

    def keep(diagnostic) -> None:
        text = diagnostic.message_primary or ""
        if "Plan" in text:
            found.append(json.loads(text[text.index("{"):]))

    raw.add_notice_handler(keep)
    with connection.cursor() as cursor:
        cursor.execute("LOAD 'auto_explain'")
        # SET LOCAL: the test's transaction ends with a rollback, and these end with it.
        for name, value in (("auto_explain.log_min_duration", "0"), ("auto_explain.log_format", "json"),
                            ("auto_explain.log_level", "notice"), ("statement_timeout", "60s")):
            cursor.execute(f"SET LOCAL {name} = '{value}'")
    yield found
    raw.remove_notice_handler(keep)
    with connection.cursor() as cursor:
        # The timeout guards the statements under test, not the test case's teardown: checking the deferred foreign
        # keys of every row inserted and updated here (half a million) took more than 60 s on a slower machine.
        cursor.execute("SET LOCAL statement_timeout = 0")


def _node_types(node: dict) -> list[str]:
    return [node["Node Type"]] + [t for child in node.get("Plans", []) for t in _node_types(child)]


def _updates(plans: list[dict]) -> list[list[str]]:
    """The node types of each UPDATE of the scores executed."""
    return [_node_types(p["Plan"]) for p in plans
            if p["Plan"]["Node Type"] == "ModifyTable" and "UPDATE predictions_customerscore" in p["Query Text"]]


def test_deciles_and_list_columns_of_a_fresh_run_are_written_without_a_nested_loop(big_run, plans):
    customer_score_deciles_fill(run=big_run)
    assert customer_score_list_columns_fill(run=big_run) == N
    updates = _updates(plans)
    assert len(updates) == 3  # the deciles of each task, the list columns
    assert all("Nested Loop" not in types for types in updates), updates
    for task in ("churn", "purchase"):
        assert CustomerScore.objects.filter(scoring_run=big_run, task=task, decile=1).count() == N // 10
    top = CustomerScore.objects.filter(scoring_run=big_run, task="churn").order_by("-probability", "id").first()
    assert top.decile == 1
    row = CustomerScore.objects.filter(scoring_run=big_run, task="churn").first()
    purchase = CustomerScore.objects.get(scoring_run=big_run, task="purchase", customer_id=row.customer_id)
    assert row.purchase_probability_copy == pytest.approx(purchase.probability)
    assert row.last_order_placed_at == AS_OF - timedelta(days=row.customer_id % 300)
    big_run.refresh_from_db()
    assert big_run.summary[LIST_COLUMNS] == {"churn_scored": N}


def test_rescored_customers_are_placed_in_the_runs_deciles_without_a_nested_loop(big_run, plans):
    customer_score_deciles_fill(run=big_run)
    customer_score_list_columns_fill(run=big_run)
    bounds = customer_score_deciles_bounds(run=big_run)
    changed = list(CustomerScore.objects.filter(scoring_run=big_run, task="churn")
                   .order_by("id").values_list("customer_id", flat=True)[:10_000])
    # Re-scored: the first becomes the most likely to leave, the others the least.
    CustomerScore.objects.filter(scoring_run=big_run, customer_id__in=changed).update(probability=0.0001)
    CustomerScore.objects.filter(scoring_run=big_run, customer_id=changed[0]).update(probability=0.9999)
    plans.clear()
    customer_score_deciles_place(run=big_run, customer_ids=changed, bounds=bounds)
    customer_score_list_columns_fill(run=big_run, customer_ids=changed, as_of=AS_OF + timedelta(days=1))
    updates = _updates(plans)
    assert len(updates) == 3  # two tasks' deciles, one fill
    assert all("Nested Loop" not in types for types in updates), updates
    rows = CustomerScore.objects.filter(scoring_run=big_run, task="churn", customer_id__in=changed)
    assert rows.get(customer_id=changed[0]).decile == 1
    assert set(rows.exclude(customer_id=changed[0]).values_list("decile", flat=True)) == {10}
    assert rows.get(customer_id=changed[1]).purchase_probability_copy == pytest.approx(0.0001)
