"""A customer who orders after their score is marked, wherever the score shows, until the worker re-scores
them; campaign files leave them out by default and say how many (issue 18 §1)."""

import csv
import io

from predictions.models import CustomerScore

ORDERS = "/api/v1/orders/batch/"


def _order_for_c1(clients):
    body = clients["analyst"].post(ORDERS, [{"order_id": "fresh-1", "customer_id": "C1",
                                             "placed_at": "2026-07-05T10:00:00Z", "total": "42.00"}],
                                   format="json").json()
    assert body["stored"] == 1, body


def _export(client, segment_id: int, query: str = ""):
    response = client.get(f"/api/v1/segments/{segment_id}/export/?format=csv{query}")
    assert response.status_code == 200, response.content[:300]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    return response, {row[0] for row in rows[1:]}


def test_an_order_after_the_score_is_marked_and_kept_out_of_campaign_files(clients, scored):
    admin = clients["admin"]
    segment = scored["segment"].pk
    before, ids = _export(admin, segment)
    assert "C1" in ids and before["X-Left-Out-Ordered-Since-Scoring"] == "0"
    rows = {r["customer_id"]: r for r in admin.get("/api/v1/at-risk/").json()["results"]}
    assert not any(r["ordered_since_scoring"] for r in rows.values())
    assert rows["C1"]["scored_at"] == "2026-06-30T00:00:00Z"

    _order_for_c1(clients)  # bought today: the June score does not know it (no champion here to re-score)

    rows = {r["customer_id"]: r for r in admin.get("/api/v1/at-risk/").json()["results"]}
    assert rows["C1"]["ordered_since_scoring"] and not rows["C2"]["ordered_since_scoring"]
    current = admin.get("/api/v1/customers/C1/scores/").json()["current"]
    assert current["churn"]["ordered_since_scoring"] and current["purchase"]["ordered_since_scoring"]
    assert not admin.get("/api/v1/customers/C2/scores/").json()["current"]["churn"]["ordered_since_scoring"]

    from predictions.selectors.customers import customer_detail  # the customer page's reader

    assert customer_detail(shop=scored["run"].shop, external_id="C1").ordered_since_scoring
    assert not customer_detail(shop=scored["run"].shop, external_id="C2").ordered_since_scoring

    after, ids = _export(admin, segment)
    assert "C1" not in ids and after["X-Left-Out-Ordered-Since-Scoring"] == "1"
    kept, ids = _export(admin, segment, "&include_ordered_since_scoring=true")
    assert "C1" in ids and kept["X-Left-Out-Ordered-Since-Scoring"] == "0"


def test_a_rescored_customer_is_no_longer_marked(clients, scored):
    _order_for_c1(clients)
    # What the re-scoring worker records: the history the new score saw reaches past that order.
    CustomerScore.objects.filter(customer=scored["customers"]["C1"]).update(
        history_until="2026-07-05T12:00:00Z", scored_at="2026-07-05T12:00:30Z")
    rows = {r["customer_id"]: r for r in clients["admin"].get("/api/v1/at-risk/").json()["results"]}
    assert not rows["C1"]["ordered_since_scoring"] and rows["C1"]["scored_at"] == "2026-07-05T12:00:30Z"
    _, ids = _export(clients["admin"], scored["segment"].pk)
    assert "C1" in ids


def test_a_rescored_score_says_the_day_of_the_data_it_saw_on_the_api_as_on_the_customer_page(clients, scored, users,
                                                                                             client):
    # The page said "from their data up to 5 Jul" (and reasons of that day: "ordered today") while the API's as_of
    # was the run's, 30 Jun: a re-scored score saw the data up to its history_until.
    _order_for_c1(clients)
    CustomerScore.objects.filter(customer=scored["customers"]["C1"]).update(
        history_until="2026-07-05T23:59:59Z", scored_at="2026-07-06T00:00:30Z")
    admin = clients["admin"]
    body = admin.get("/api/v1/customers/C1/scores/").json()
    assert body["current"]["churn"]["as_of"] == body["current"]["purchase"]["as_of"] == "2026-07-05T23:59:59Z"
    assert {r["as_of"] for r in body["results"]} == {"2026-07-05T23:59:59Z"}
    assert body["current"]["churn"]["scoring_run"] == scored["run"].pk
    # A score not re-scored saw the data up to its run's as_of.
    run_as_of = scored["run"].as_of.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert admin.get("/api/v1/customers/C2/scores/").json()["current"]["churn"]["as_of"] == run_as_of
    client.force_login(users["admin"])
    page = client.get("/customers/C1/")
    assert page.status_code == 200 and "from their data up to 5 Jul 2026" in page.content.decode()
