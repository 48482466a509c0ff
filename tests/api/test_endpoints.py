"""Each endpoint's output, filters, cursor pagination, the error format, and jobs being enqueued."""

import csv
import io
from datetime import UTC, datetime

import pytest

from accounts.models import AuditLog, Job
from predictions.models import ModelVersion, Segment, SegmentExport
from tests.predictions.factories import ScoringRunFactory, scored_customers

from .conftest import assert_error


def test_health_needs_no_auth(db, client):
    response = client.get("/api/v1/health/")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_customers_list_filters_and_orders(clients, scored):
    admin = clients["admin"]
    ids = [c["id"] for c in admin.get("/api/v1/customers/", {"ordering": "-id"}).json()["results"]]
    assert ids == ["C5", "C4", "C3", "C2", "C1"]
    assert admin.get("/api/v1/customers/", {"country": "fr"}).json()["results"] == []
    assert_error(admin.get("/api/v1/customers/", {"ordering": "email"}), 400)


def test_unknown_customer_and_product_are_404(clients, scored):
    assert_error(clients["admin"].get("/api/v1/customers/nope/"), 404, "not_found")
    assert_error(clients["admin"].get("/api/v1/customers/nope/scores/"), 404)
    assert_error(clients["admin"].get("/api/v1/customers/nope/recommendations/"), 404)
    assert_error(clients["admin"].get("/api/v1/products/nope/similar/"), 404)
    assert_error(clients["admin"].get("/api/v1/segments/999999999/"), 404)
    assert_error(clients["admin"].get("/api/v1/segments/99999999999999999999999/"), 404)
    assert_error(clients["admin"].get("/api/v1/nothing-here/"), 404)


def test_customer_scores_current_and_history(clients, shop, scored):
    newer = ScoringRunFactory(shop=shop, as_of=scored["run"].as_of.replace(month=7))
    from predictions.models import CustomerScore

    CustomerScore.objects.create(shop=shop, scoring_run=newer, customer=scored["customers"]["C1"], task="churn",
                                 probability=0.2, risk_band="low", decile=9, spend_12m=1, scored_at=newer.as_of)
    body = clients["marketer"].get("/api/v1/customers/C1/scores/").json()
    assert body["current"]["churn"]["probability"] == 0.2 and body["current"]["purchase"] is None
    assert [s["scoring_run"] for s in body["results"]][:1] == [newer.pk]
    assert len(body["results"]) == 3  # churn twice, purchase once
    only_churn = clients["marketer"].get("/api/v1/customers/C1/scores/", {"task": "churn"}).json()["results"]
    assert {s["task"] for s in only_churn} == {"churn"}


def test_each_score_says_whether_the_customer_had_already_lapsed(clients, shop, scored):
    """The at-risk items carried `lapsed`, a customer's scores did not: an integrator reading one customer could not
    tell a win-back customer from one to save. Each score has its own run's mark; the current ones the current run's."""
    from predictions.models import CustomerScore

    newer = ScoringRunFactory(shop=shop, as_of=scored["run"].as_of.replace(month=7))
    customer = scored["customers"]["C1"]
    CustomerScore.objects.bulk_create([
        CustomerScore(shop=shop, scoring_run=newer, customer=customer, task=task, probability=p, risk_band="high",
                      decile=1, spend_12m=1, scored_at=newer.as_of, lapsed=True)
        for task, p in (("churn", 0.95), ("purchase", 0.05))])
    body = clients["marketer"].get("/api/v1/customers/C1/scores/").json()
    assert body["current"]["churn"]["lapsed"] is True and body["current"]["purchase"]["lapsed"] is True
    assert [(s["scoring_run"], s["lapsed"]) for s in body["results"]] == [
        (newer.pk, True), (newer.pk, True), (scored["run"].pk, False), (scored["run"].pk, False)]
    assert all(s["lapsed"] is False for s in clients["marketer"].get("/api/v1/customers/C2/scores/").json()["results"])


def test_a_customers_record_says_whether_they_had_already_lapsed(clients, shop, scored):
    """`customers/{id}/scores/` said `lapsed`, the customer's record (`customers/{id}/`) did not. The record reads the
    current run's mark (either row: a customer silent beyond the churn lookback has only a purchase row); null where
    the current run did not score them. The list leaves it out (no per-customer read)."""
    from behavior.models import Customer
    from predictions.models import CustomerScore

    assert clients["marketer"].get("/api/v1/customers/C1/").json()["lapsed"] is False
    newer = ScoringRunFactory(shop=shop, as_of=scored["run"].as_of.replace(month=7))
    CustomerScore.objects.bulk_create([
        *[CustomerScore(shop=shop, scoring_run=newer, customer=scored["customers"]["C1"], task=task, probability=p,
                        risk_band="high", decile=1, spend_12m=1, scored_at=newer.as_of, lapsed=True)
          for task, p in (("churn", 0.95), ("purchase", 0.05))],
        CustomerScore(shop=shop, scoring_run=newer, customer=scored["customers"]["C3"], task="purchase",
                      probability=0.01, risk_band="low", decile=10, spend_12m=0, scored_at=newer.as_of, lapsed=True),
        CustomerScore(shop=shop, scoring_run=newer, customer=scored["customers"]["C4"], task="churn",
                      probability=0.3, risk_band="low", decile=5, spend_12m=1, scored_at=newer.as_of, lapsed=False)])
    Customer.objects.create(shop=shop, external_id="NEW")
    got = {cid: clients["marketer"].get(f"/api/v1/customers/{cid}/").json()["lapsed"]
           for cid in ("C1", "C2", "C3", "C4", "NEW")}
    assert got == {"C1": True, "C2": None, "C3": True, "C4": False, "NEW": None}
    assert all("lapsed" not in c for c in clients["marketer"].get("/api/v1/customers/").json()["results"])


def test_current_scores_are_the_current_runs_however_the_history_is_read(clients, shop, scored):
    # The current run is the latest by as_of; a backfill of an earlier date, scored later, heads the history.
    from predictions.models import CustomerScore

    as_of = scored["run"].as_of
    newer = ScoringRunFactory(shop=shop, as_of=as_of.replace(month=7))
    backfill = ScoringRunFactory(shop=shop, as_of=as_of.replace(month=5))
    customer = scored["customers"]["C1"]
    for run, probability, scored_at in ((newer, 0.2, newer.as_of), (backfill, 0.6, as_of.replace(month=8))):
        CustomerScore.objects.create(shop=shop, scoring_run=run, customer=customer, task="churn",
                                     probability=probability, risk_band="low", decile=9, spend_12m=1,
                                     scored_at=scored_at)
    path = "/api/v1/customers/C1/scores/"
    whole = clients["marketer"].get(path).json()  # the whole history on the first page
    assert whole["results"][0]["scoring_run"] == backfill.pk and len(whole["results"]) == 4
    assert whole["current"]["churn"]["scoring_run"] == newer.pk and whole["current"]["purchase"] is None
    from predictions.selectors.at_risk import scoring_run_current  # the pages' rule (the API's is its SQL form)

    assert scoring_run_current(shop=shop) == newer
    for query in ({"page_size": 1}, {"task": "purchase"}, {"task": "churn", "page_size": 1}):
        body = clients["marketer"].get(path, query).json()
        assert body["current"] == whole["current"], query
    CustomerScore.objects.filter(scoring_run=newer).delete()
    assert clients["marketer"].get(path).json()["current"] == {"churn": None, "purchase": None}


def test_recommendations_in_rank_order_with_product_ids(clients, scored):
    results = clients["marketer"].get("/api/v1/customers/C1/recommendations/").json()["results"]
    assert [(r["rank"], r["product"]["id"]) for r in results] == [(1, "P1"), (2, "P2"), (3, "P3")]
    assert clients["marketer"].get("/api/v1/customers/C2/recommendations/").json()["results"] == []


def test_similar_products(clients, scored):
    results = clients["marketer"].get("/api/v1/products/P1/similar/").json()["results"]
    assert [(r["kind"], r["product"]["id"]) for r in results] == [("content", "P2")]
    assert clients["marketer"].get("/api/v1/products/P1/similar/", {"kind": "also_bought"}).json()["results"] == []


def test_at_risk_uses_the_web_filters(clients, scored):
    client = clients["marketer"]
    body = client.get("/api/v1/at-risk/").json()
    assert [r["customer_id"] for r in body["results"]] == ["C1", "C2", "C3", "C4", "C5"]
    assert body["scoring_run"]["id"] == scored["run"].pk
    high = client.get("/api/v1/at-risk/", {"band": ["high"], "sort": "churn"}).json()["results"]
    assert [r["customer_id"] for r in high] == ["C1", "C2", "C3"]  # p ≥ 0.6
    assert [r["customer_id"] for r in client.get("/api/v1/at-risk/", {"churn_min": 0.75}).json()["results"]] == ["C1"]


@pytest.mark.parametrize(("params", "field"), [({"churn_min": "abc"}, "churn_min"), ({"churn_min": 1.01}, "churn_min"),
                                               ({"band": "purple"}, "band"), ({"sort": "x"}, "sort"),
                                               ({"days_min": 10**12}, "days_min"), ({"page_size": 0}, "page_size"),
                                               ({"cursor": "garbage"}, "cursor")])
def test_at_risk_bad_filter_is_400_naming_the_field(clients, scored, params, field):
    body = assert_error(clients["marketer"].get("/api/v1/at-risk/", params), 400)
    assert body["field"].split(".")[0] == field


def test_at_risk_empty_range_is_400(clients, scored):
    assert_error(clients["marketer"].get("/api/v1/at-risk/", {"churn_min": 0.8, "churn_max": 0.1}), 400)


def test_cursor_pagination_walks_every_item_once(clients, shop, scored):
    client = clients["marketer"]
    for path in ("/api/v1/at-risk/", "/api/v1/customers/"):
        seen, url = [], f"{path}?page_size=2"
        while url:
            body = client.get(url).json()
            key = "customer_id" if "at-risk" in path else "id"
            seen += [r[key] for r in body["results"]]
            url = body["next"]
        assert sorted(seen) == ["C1", "C2", "C3", "C4", "C5"], path  # no duplicates, none missing


def test_at_risk_cursor_stays_on_its_run_when_a_new_run_lands(clients, shop, scored):
    client = clients["marketer"]
    first = client.get("/api/v1/at-risk/", {"page_size": 2}).json()
    newer = ScoringRunFactory(shop=shop, as_of=scored["run"].as_of.replace(month=8))
    scored_customers(shop, newer, [{"external_id": "N1", "p": 0.99}])
    second = client.get(first["next"]).json()
    assert second["scoring_run"]["id"] == scored["run"].pk
    assert [r["customer_id"] for r in second["results"]] == ["C3", "C4"]
    assert client.get("/api/v1/at-risk/").json()["results"][0]["customer_id"] == "N1"


def test_segments_crud(clients, scored):
    client = clients["marketer"]
    created = client.post("/api/v1/segments/", {"name": "Big", "filters": {"value_min": 50, "bands": ["high"]}},
                          format="json")
    assert created.status_code == 201
    seg = created.json()
    assert seg["size"] == 3 and seg["filters"] == {"bands": ["high"], "value_min": 50.0}
    assert_error(client.post("/api/v1/segments/", {"name": "big"}, format="json"), 400, "segment_name_taken")
    assert_error(client.post("/api/v1/segments/", {"name": "x", "filters": {"churn_min": 5}}, format="json"), 400)
    patched = client.patch(f"/api/v1/segments/{seg['id']}/", {"filters": {"bands": ["low"]}}, format="json").json()
    assert patched["name"] == "Big" and patched["size"] == 0
    put = client.put(f"/api/v1/segments/{seg['id']}/", {"name": "Renamed"}, format="json").json()
    assert put["name"] == "Renamed" and put["filters"] == {}
    assert [s["name"] for s in client.get("/api/v1/segments/").json()["results"]] == ["High", "Renamed"]
    assert client.delete(f"/api/v1/segments/{seg['id']}/").status_code == 204
    assert not Segment.objects.filter(pk=seg["id"]).exists()
    assert AuditLog.objects.filter(action="segment.update").exists()


def test_segment_members(clients, scored):
    body = clients["marketer"].get(f"/api/v1/segments/{scored['segment'].pk}/members/").json()
    assert [r["customer_id"] for r in body["results"]] == ["C1", "C2", "C3"]


def test_segment_export_is_the_web_file_and_is_audited(clients, users, scored):
    seg = scored["segment"]
    response = clients["marketer"].get(f"/api/v1/segments/{seg.pk}/export/")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["customer_id", "pseudonym", "churn_probability"]  # a marketer: no email or name column
    assert [r[0] for r in rows[1:]] == ["C1", "C2", "C3"]
    assert all(r[1].startswith("anon-") for r in rows[1:])
    export = SegmentExport.objects.get()
    assert export.created_by == users["marketer"] and export.rows == 3
    assert AuditLog.objects.filter(action="segment.export", details__export_id=export.pk).exists()
    admin_rows = list(csv.reader(io.StringIO(b"".join(
        clients["admin"].get(f"/api/v1/segments/{seg.pk}/export/").streaming_content).decode())))
    assert admin_rows[1][1] == "C1@example.com"
    assert_error(clients["marketer"].get(f"/api/v1/segments/{seg.pk}/export/", {"control": 90}), 400)


def test_models_list_and_promotion_is_audited(clients, scored):
    model = scored["model"]
    listed = clients["marketer"].get("/api/v1/models/", {"task": "churn"}).json()["results"]
    assert [m["id"] for m in listed] == [model.pk] and listed[0]["metrics"] == {"roc_auc": 0.8}
    promoted = clients["analyst"].post(f"/api/v1/models/{model.pk}/promote/").json()
    assert promoted["status"] == "champion"
    assert ModelVersion.objects.get(pk=model.pk).status == "champion"
    assert AuditLog.objects.filter(action="model.promote").exists()


def test_train_job_is_created_and_enqueued_after_commit(clients, shop, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = clients["analyst"].post("/api/v1/jobs/train/", {"task": "churn", "horizon_days": 60},
                                           format="json")
    assert response.status_code == 202
    job = Job.objects.get(pk=response.json()["id"])
    assert job.kind == "train" and job.params["horizon_days"] == 60 and job.created_by.username == "analyst"
    assert len(callbacks) == 1
    assert response["Location"] == f"/api/v1/jobs/{job.pk}/"
    status = clients["marketer"].get(f"/api/v1/jobs/{job.pk}/").json()
    assert status["status"] == "pending" and status["progress"] == 0.0


def test_train_job_with_unknown_algorithm_is_400(clients, shop):
    body = assert_error(clients["analyst"].post("/api/v1/jobs/train/", {"task": "churn", "algorithms": ["magic"]},
                                                format="json"), 400)
    assert body["field"] == "algorithms"
    assert not Job.objects.exists()


@pytest.mark.parametrize(("body", "field"), [
    ({"task": "churn", "algorithms": []}, "algorithms"),  # trained every default algorithm
    ({"task": "churn", "as_of": "2030-01-01"}, "as_of"),  # started a job that then failed
])
def test_a_train_job_that_cannot_run_is_refused_before_it_starts(clients, shop, body, field):
    from tests.behavior.factories import OrderFactory

    OrderFactory(shop=shop, placed_at=datetime(2026, 6, 1, tzinfo=UTC))
    response = clients["analyst"].post("/api/v1/jobs/train/", body, format="json")
    assert assert_error(response, 400)["field"] == field
    assert not Job.objects.filter(kind=Job.Kind.TRAIN).exists()


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/api/v1/jobs/train/", {"task": "churn", "algorithm": ["recency"]}, "algorithm"),  # would train every one
    ("/api/v1/jobs/train/", {"task": "churn", "horizon": 30}, "horizon"),  # would use the shop's horizon
    ("/api/v1/jobs/score/", {"as_off": "2026-01-01"}, "as_off"),  # would score as of the last order
    ("/api/v1/jobs/recommendations/", {"K": 5}, "K"),  # would build 20 per customer
    ("/api/v1/jobs/score/", {"shop": "globex"}, "shop"),
])
def test_a_job_body_with_a_key_the_api_does_not_know_is_400_and_starts_nothing(clients, shop, path, body, field):
    # Second replay of issue 16: such keys were dropped and the job started with the defaults (202).
    answer = assert_error(clients["analyst"].post(path, body, format="json"), 400)
    assert answer["field"] == field and field in answer["message"]
    assert not Job.objects.exists()


def test_score_job_without_champion_is_a_clear_400(clients, scored):
    body = assert_error(clients["analyst"].post("/api/v1/jobs/score/", {}, format="json"), 400)
    assert "champion" in body["message"]


def test_recommendations_job(clients, shop, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = clients["analyst"].post("/api/v1/jobs/recommendations/", {"k": 7}, format="json")
    assert response.status_code == 202 and response.json()["params"] == {"k": 7}
    assert len(callbacks) == 1
    assert_error(clients["analyst"].post("/api/v1/jobs/recommendations/", {"k": 0}, format="json"), 400)


@pytest.mark.parametrize(("method", "kwargs", "status", "code"), [
    ("put", {}, 405, "method_not_allowed"),
    ("post", {"data": "{not json", "content_type": "application/json"}, 400, "malformed_json"),
    ("post", {"data": "name=x", "content_type": "application/x-www-form-urlencoded"}, 415,
     "unsupported_media_type"),
])
def test_drf_errors_use_the_one_format(clients, scored, method, kwargs, status, code):
    path = "/api/v1/segments/" if method == "post" else "/api/v1/customers/"
    assert_error(getattr(clients["analyst"], method)(path, **kwargs), status, code)


@pytest.mark.parametrize("ids_first", [False, True], ids=["one-query", "ids-first"])
@pytest.mark.parametrize("copied", [False, True], ids=["computed-columns", "copied-columns"])
def test_at_risk_and_segment_pages_walk_the_lists_own_order_in_every_sort(clients, shop, copied, ids_first,
                                                                           monkeypatch):
    # Pages past the first few are read ids first (at_risk_window): either way, walked page by page they must
    # give the list's own order, ties (equal probabilities, spends, no orders) broken the same way, on runs
    # with and without the copied list columns.
    from predictions.filters import SORTS, AtRiskFilter
    from predictions.selectors import at_risk
    from predictions.selectors.at_risk import at_risk_queryset
    from predictions.selectors.segments import segment_queryset
    from predictions.services.score_columns import customer_score_list_columns_fill

    monkeypatch.setattr(at_risk, "_IDS_FIRST_FROM", 0 if ids_first else 10**9)

    run = ScoringRunFactory(shop=shop)
    scored_customers(shop, run, [{"external_id": f"T{i:02d}", "p": (0.8, 0.5, 0.5, 0.2)[i % 4],
                                  "buy": (None, 0.3, 0.3, 0.6)[i % 4], "spend": (100.0, 50.0)[i % 2]}
                                 for i in range(13)])
    if copied:
        customer_score_list_columns_fill(run=run)
    client = clients["marketer"]

    def walked(url: str) -> list[str]:
        seen = []
        while url:
            body = client.get(url).json()
            seen += [r["customer_id"] for r in body["results"]]
            url = body["next"]
        return seen

    for sort in SORTS:
        expected = list(at_risk_queryset(shop=shop, run=run, flt=AtRiskFilter(sort=sort))
                        .values_list("customer__external_id", flat=True))
        assert len(expected) == 13
        assert walked(f"/api/v1/at-risk/?sort={sort}&page_size=3") == expected, sort
    segment = Segment.objects.create(shop=shop, name="Mid", filters={"bands": ["medium"], "sort": "value"})
    expected = list(segment_queryset(shop=shop, segment=segment, run=run)
                    .values_list("customer__external_id", flat=True))
    assert len(expected) == 6
    assert walked(f"/api/v1/segments/{segment.pk}/members/?page_size=4") == expected


def _cursor(query: str) -> str:
    import base64

    return base64.b64encode(query.encode()).decode()


@pytest.mark.parametrize(("path", "position"), [
    ("/api/v1/customers/", "p=%00"),  # a NUL: PostgreSQL text cannot hold one
    ("/api/v1/jobs/", "p=2026-13-45"),  # no such date
    ("/api/v1/models/", "p=abc"),
    ("/api/v1/reviews/", "o=5&p=1e999"),  # a number the id column cannot hold
    ("/api/v1/reviews/", "p=2026-06-30+10%3A00%3A00%2B00%3A00"),  # the jobs list's cursor on the reviews list
    ("/api/v1/customers/C1/recommendations/", "p=abc"),
    ("/api/v1/customers/C1/scores/", "p=abc"),
])
def test_a_cursor_whose_position_cannot_fit_the_list_is_400_invalid_cursor(clients, scored, path, position):
    body = assert_error(clients["admin"].get(path, {"cursor": _cursor(position)}), 400, "invalid_cursor")
    assert body["field"] == "cursor"


def test_customers_by_creation_page_past_a_thousand_created_at_once(clients, shop):
    # An import writes its customers with one created_at; a cursor on that column alone cannot get past more
    # than a thousand ties, and kept returning the same page.
    from django.utils import timezone

    from behavior.models import Customer

    Customer.objects.bulk_create([Customer(shop=shop, external_id=f"K{i:05d}") for i in range(1200)])
    Customer.objects.filter(shop=shop).update(created_at=timezone.now())
    for ordering in ("created_at", "-created_at"):
        seen, url = [], f"/api/v1/customers/?page_size=500&ordering={ordering}"
        while url and len(seen) <= 1200:
            body = clients["admin"].get(url).json()
            seen += [row["id"] for row in body["results"]]
            url = body["next"]
        assert len(seen) == len(set(seen)) == 1200, ordering
        assert seen == sorted(seen, reverse=ordering.startswith("-")), ordering  # creation order: K00000 first


def test_head_on_a_segment_export_records_no_export(clients, scored):
    segment = scored["segment"]
    response = clients["marketer"].head(f"/api/v1/segments/{segment.pk}/export/")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert not SegmentExport.objects.filter(segment=segment).exists()
    assert not AuditLog.objects.filter(action="segment.export").exists()
    assert clients["marketer"].head("/api/v1/segments/999999/export/").status_code == 404


def test_the_customer_list_leaves_out_the_guest_customer_as_the_pages_do(clients, scored, shop):
    """A new user's review: `GET customers/?is_stub=true` listed the shop's `guest` customer (guest checkouts,
    nobody) among the stand-ins, which the dashboard, Data quality and the import page leave out."""
    from behavior.models import GUEST_CUSTOMER_ID, Customer

    Customer.objects.create(shop=shop, external_id=GUEST_CUSTOMER_ID, is_stub=True)
    Customer.objects.create(shop=shop, external_id="C00001", is_stub=True)
    admin = clients["admin"]
    listed = [c["id"] for c in admin.get("/api/v1/customers/", {"page_size": 500}).json()["results"]]
    assert listed == ["C00001", "C1", "C2", "C3", "C4", "C5"]
    assert [c["id"] for c in admin.get("/api/v1/customers/", {"is_stub": "true"}).json()["results"]] == ["C00001"]
    assert GUEST_CUSTOMER_ID not in [c["id"] for c in admin.get("/api/v1/customers/", {"is_stub": "false"}).json()[
        "results"]]
