"""A query validated once per process (ecomsight.api.views.query_validated) answers every call as a fresh
validation would: a refused value is refused every time, a valid one filters every time."""

import pytest

from tests.api.conftest import assert_error

pytestmark = pytest.mark.django_db
SCORES = "/api/v1/customers/C1/scores/"


def test_the_scores_task_filter_is_refused_and_applied_on_every_call(clients, scored):
    for _ in range(2):
        assert assert_error(clients["analyst"].get(f"{SCORES}?task=bogus"), 400)["field"] == "task"
    for _ in range(2):
        body = clients["analyst"].get(f"{SCORES}?task=churn").json()
        assert [row["task"] for row in body["results"]] == ["churn"]
    assert {row["task"] for row in clients["analyst"].get(SCORES).json()["results"]} == {"churn", "purchase"}
    # The validated answer is read-only: a caller cannot change what the next call is given.
    from django.http import QueryDict

    from ecomsight.api.views import query_validated
    from predictions.api.serializers import ScoreHistoryFilterSerializer

    with pytest.raises(TypeError):
        query_validated(ScoreHistoryFilterSerializer, QueryDict("task=churn"))["task"] = "purchase"
