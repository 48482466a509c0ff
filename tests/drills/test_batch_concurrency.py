"""Drill: the same API batch sent 3 times in a row, then 10 times at once, over real HTTP to a live
server: the events stored equal the distinct events, whatever the interleaving."""

import json
import threading
import urllib.request

import pytest

from accounts.tokens import api_token_create
from behavior.models import Customer, Event
from tests.accounts.factories import UserFactory


def _post(url: str, token: str, items: list[dict]) -> dict:
    request = urllib.request.Request(url, data=json.dumps(items).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {token}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_same_batch_three_times_then_ten_at_once_stores_each_event_once(live_server, shop):
    user = UserFactory(role="analyst", shops=[shop])
    token = api_token_create(user=user, shop=shop, name="drill").plain
    url = f"{live_server.url}/api/v1/events/batch/"
    batch = [{"event_id": f"e{i}", "customer_id": f"C{i % 50}", "type": "view", "product_id": f"P{i % 20}",
              "occurred_at": "2026-06-01T10:00:00Z"} for i in range(2000)]
    batch += batch[:100]  # repeats inside the batch too

    results = [_post(url, token, batch) for _ in range(3)]
    assert results[0]["stored"] == 2000
    assert results[1]["stored"] == results[2]["stored"] == 0

    fresh = [dict(item, event_id=f"n{item['event_id']}") for item in batch]
    outcomes, errors = [], []

    def send():
        try:
            outcomes.append(_post(url, token, fresh))
        except Exception as exc:  # noqa: BLE001 - every failure is reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=send) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors[:3]
    assert sum(o["stored"] for o in outcomes) == 2000
    assert Event.objects.filter(shop=shop).count() == 4000
    assert Customer.objects.filter(shop=shop).count() == 50  # stand-ins created once, not per request
