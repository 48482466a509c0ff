"""The API's repeated reads are prepared once per connection: parameters are bound on the server
(DATABASE_PREPARED_STATEMENTS, on by default), so psycopg prepares a statement a connection keeps running and
PostgreSQL no longer plans it on every call."""

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


def test_a_customer_scores_call_repeated_is_answered_by_a_prepared_statement(clients, scored):
    for _ in range(8):
        response = clients["analyst"].get("/api/v1/customers/C1/scores/")
        assert response.status_code == 200
        assert response.json()["results"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    scores = [s for s in prepared if "predictions_customerscore" in s]
    assert scores, prepared
    # The customer's id travels as a parameter, not written into the SQL (one statement serves every customer).
    assert all("$1" in s and "'C1'" not in s for s in scores), scores
