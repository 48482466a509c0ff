"""Findings F4 (the API side) and F7 of the outside review (issue 16): each answered 500 before the fix."""

import pytest

from .conftest import assert_error

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("field", "value"), [("total", 1e300), ("total", "1e300"),
                                              ("placed_at", "0001-01-01T00:00:00+14:00")])
def test_f4_the_same_value_through_orders_batch_rejects_the_item_not_500(clients, shop, field, value):
    items = [{"order_id": "A1", "customer_id": "C1", "placed_at": "2024-02-01T10:00:00Z", "total": 10},
             {"order_id": "A2", "customer_id": "C1", "placed_at": "2024-02-01T10:00:00Z", "total": 10}]
    items[1][field] = value
    response = clients["analyst"].post("/api/v1/orders/batch/", items, format="json")
    assert response.status_code == 200, response.content[:300]
    body = response.json()
    assert body["stored"] == 1 and [r["index"] for r in body["rejected"]] == [1]
    assert body["rejected"][0]["field"] == field


def test_f7_json_nested_5000_deep_is_a_400(clients, shop):
    body = "[" * 5000 + "]" * 5000
    assert_error(clients["analyst"].post("/api/v1/events/batch/", body, content_type="application/json"), 400)
    deep = {"event_id": "e1", "customer_id": "C1", "type": "view", "occurred_at": "2026-06-01T10:00:00Z",
            "properties": {}}
    node = deep["properties"]
    for _ in range(450):
        node["x"] = {}
        node = node["x"]
    assert_error(clients["analyst"].post("/api/v1/events/batch/", [deep], format="json"), 400)
