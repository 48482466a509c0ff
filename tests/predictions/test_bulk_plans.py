"""The set-based writes over a whole scoring run keep a sound plan whoever calls them (issue 22 item 6).

100,000 customers with a churn row, a purchase row and an order each are written in SQL (generate_series) once
for the module and committed; each test's writes are rolled back with its transaction, so every test starts
from the same fresh run. Each write runs with PostgreSQL's auto_explain reporting every plan it executes: no
plan may hold a Nested Loop (with wrong estimates, the join of the run's churn and purchase rows became one:
100,000 x 100,000 row visits). A statement timeout turns a degraded plan into a failure instead of a hung test.

Why committed rather than written in each test's transaction (as before): rows inserted in the test's own
transaction had PostgreSQL queue a deferred foreign-key check for every insert and for every update of them
(even one that changes no key), about 1.5 million per test, fired when the test case's teardown checks the
deferred constraints: 35-55 s per test, plus 14 s of writing the rows again for each test. The writes under
test ANALYZE the tables first (score_columns._tables_analyse), so committing the rows beforehand changes no
statistics the planner sees."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import connection, transaction

from accounts.models import Shop
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
TABLES = ("predictions_customerscore", "behavior_order", "behavior_customer")  # children first
pytestmark = pytest.mark.slow


def _superuser(cursor) -> bool:
    cursor.execute("SELECT current_setting('is_superuser') = 'on'")
    return cursor.fetchone()[0]


def _bulk(cursor, statements: list[tuple[str, list]]) -> None:
    """Run `statements` in one transaction; as a superuser (the test servers' `postgres`) without the foreign-key
    triggers (session_replication_role = replica): the rows are generated from the shop's own ids, and deleting
    100,000 customers would otherwise check every table that references a customer, once per row."""
    with transaction.atomic():
        if _superuser(cursor):
            cursor.execute("SET LOCAL session_replication_role = replica")
        for sql, params in statements:
            cursor.execute(sql, params)


@pytest.fixture(scope="module")
def big_run_committed(django_db_setup, django_db_blocker) -> ScoringRun:
    """The shop's fresh run of N customers, committed once for the module (removed after it)."""
    with django_db_blocker.unblock():
        shop = Shop.objects.create(slug="bulk-plans", name="Bulk plans")
        run = ScoringRunFactory(shop=shop, as_of=AS_OF)
        with connection.cursor() as cursor:
            # No autovacuum ANALYZE of the committed rows before the tests: the planner knows nothing of them until
            # the code under test analyses the tables itself, as when a scoring run has just written them.
            for table in TABLES:
                cursor.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
            _bulk(cursor, [
                ("INSERT INTO behavior_customer (shop_id, external_id, email, name, country, attributes, is_stub, "
                 "created_at) SELECT %s, 'B' || i, '', '', '', '{}'::jsonb, false, now() "
                 "FROM generate_series(1, %s) i", [shop.pk, N]),
                ("INSERT INTO behavior_order (shop_id, external_id, customer_id, placed_at, currency, status, "
                 "offer_code) SELECT %s, 'O' || id, id, %s - (id %% 300) * interval '1 day', 'EUR', 'placed', '' "
                 "FROM behavior_customer WHERE shop_id = %s", [shop.pk, AS_OF, shop.pk]),
                *[("INSERT INTO predictions_customerscore (shop_id, scoring_run_id, customer_id, task, probability, "
                   "risk_band, decile, reasons, spend_12m, scored_at) "
                   f"SELECT %s, %s, c.id, %s, {probability}, 'low', 10, '[]'::jsonb, 0, now() "
                   "FROM behavior_customer c WHERE c.shop_id = %s", [shop.pk, run.pk, task, shop.pk])
                  for task, probability in (("churn", "(c.id %% 1000) / 1000.0"),
                                            ("purchase", "1 - (c.id %% 997) / 997.0"))],
            ])
    yield run
    with django_db_blocker.unblock():
        with connection.cursor() as cursor:
            _bulk(cursor, [(f"DELETE FROM {table} WHERE shop_id = %s", [shop.pk]) for table in TABLES])
            for table in TABLES:
                cursor.execute(f"ALTER TABLE {table} RESET (autovacuum_enabled)")
        shop.delete()  # the run and anything else of the shop's, through the ORM


@pytest.fixture
def big_run(big_run_committed, db) -> ScoringRun:
    yield ScoringRun.objects.get(pk=big_run_committed.pk)
    # The test's transaction is rolled back without the test case's check of the deferred foreign keys: the writes
    # under test change no key, but a row updated twice in one transaction queues a check per row all the same
    # (100,000 here, 7-13 s with the machine loaded) that could only find the keys generated above.
    transaction.set_rollback(True)


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
        # The timeout guards the statements under test, not the test case's teardown (its check of the deferred
        # foreign keys took more than 60 s on a slower machine when the rows were written in the test's transaction).
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
    updates = _updates(plans)
    assert len(updates) == 2  # two tasks' deciles
    assert all("Nested Loop" not in types for types in updates), updates
    rows = CustomerScore.objects.filter(scoring_run=big_run, task="churn", customer_id__in=changed)
    assert rows.get(customer_id=changed[0]).decile == 1
    assert set(rows.exclude(customer_id=changed[0]).values_list("decile", flat=True)) == {10}
