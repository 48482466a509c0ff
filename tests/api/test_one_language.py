"""Issue 18 §4, "the API speaks one language": probabilities are 0 to 1 in filters as in answers (the web page
keeps percents in its form and links), `limit` means one thing, every timestamp carries its zone."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from accounts.jobs import job_create
from accounts.models import ApiToken, Job
from behavior.models import Review
from forecasts.models import ForecastRun
from predictions.models import CustomerScore, Segment
from recommendations.models import Recommendation
from tests.accounts.factories import UserFactory

from .conftest import assert_error

# The `scored` fixture: churn probabilities C1 0.8, C2 0.7, C3 0.6, C4 0.5, C5 0.4.


def _ids(response) -> list[str]:
    assert response.status_code == 200, response.content[:300]
    return [row["customer_id"] for row in response.json()["results"]]


# ---- probabilities 0 to 1 --------------------------------------------------------------------------------


def test_at_risk_probability_filters_take_0_to_1(clients, scored):
    client = clients["marketer"]
    assert _ids(client.get("/api/v1/at-risk/", {"churn_min": "0.55", "sort": "churn"})) == ["C1", "C2", "C3"]
    assert _ids(client.get("/api/v1/at-risk/", {"churn_max": 0.45})) == ["C5"]
    assert _ids(client.get("/api/v1/at-risk/", {"churn_min": 0.65, "churn_max": "0.75"})) == ["C2"]
    assert _ids(client.get("/api/v1/at-risk/", {"churn_min": 0, "churn_max": 1})) == ["C1", "C2", "C3", "C4", "C5"]


@pytest.mark.parametrize("value", ["50", "1.01", "70", "-0.1"])
def test_a_percent_where_a_probability_belongs_is_a_400_saying_0_to_1(clients, scored, value):
    body = assert_error(clients["marketer"].get("/api/v1/at-risk/", {"churn_min": value}), 400)
    assert body["field"] == "churn_min" and "0 to 1 (0.5 = 50 %)" in body["message"], body


def test_a_probability_finer_than_a_whole_percent_is_refused_not_rounded(clients, scored):
    body = assert_error(clients["marketer"].get("/api/v1/at-risk/", {"churn_max": "0.555"}), 400)
    assert body["field"] == "churn_max" and "two decimals" in body["message"]
    body = assert_error(clients["marketer"].post("/api/v1/segments/", {"name": "fine", "filters": {
        "churn_min": 0.555}}, format="json"), 400)
    assert body["field"] == "filters.churn_min" and "0 to 1 (0.5 = 50 %)" in body["message"]
    assert not Segment.objects.filter(name="fine").exists()


def test_segment_bodies_take_0_to_1_and_refuse_percents(clients, scored):
    body = assert_error(clients["marketer"].post("/api/v1/segments/", {"name": "pct", "filters": {
        "churn_min": 50}}, format="json"), 400)
    assert body["field"] == "filters.churn_min" and "0 to 1 (0.5 = 50 %)" in body["message"]
    assert not Segment.objects.filter(name="pct").exists()


def test_an_api_segment_and_a_web_segment_with_the_same_threshold_have_the_same_members(client, clients, shop,
                                                                                        scored):
    api = clients["marketer"]
    made = api.post("/api/v1/segments/", {"name": "API", "filters": {"churn_min": 0.55, "churn_max": 0.75}},
                    format="json")
    assert made.status_code == 201, made.content
    assert made.json()["filters"] == {"churn_min": 0.55, "churn_max": 0.75} and made.json()["size"] == 2
    client.force_login(UserFactory(role="marketer", shops=[shop]))
    assert client.post("/segments/", {"name": "Web", "query": "churn_min=55&churn_max=75"}).status_code == 302
    by_api, by_web = Segment.objects.get(shop=shop, name="API"), Segment.objects.get(shop=shop, name="Web")
    assert by_api.filters == by_web.filters == {"churn_min": 55, "churn_max": 75}  # the web page's form
    assert api.get(f"/api/v1/segments/{by_web.pk}/").json()["filters"] == {"churn_min": 0.55, "churn_max": 0.75}
    members = {name: _ids(api.get(f"/api/v1/segments/{s.pk}/members/")) for name, s in (("api", by_api),
                                                                                       ("web", by_web))}
    assert members["api"] == members["web"] == ["C2", "C3"]
    # A PATCH reads 0 to 1 as well.
    patched = api.patch(f"/api/v1/segments/{by_api.pk}/", {"filters": {"churn_min": 0.75}}, format="json")
    assert patched.json()["filters"] == {"churn_min": 0.75} and patched.json()["size"] == 1
    by_api.refresh_from_db()
    assert by_api.filters == {"churn_min": 75}


def test_the_openapi_document_says_probabilities_are_0_to_1(db):
    schema = SchemaGenerator().get_schema(request=None, public=True)
    params = {p["name"]: p for p in schema["paths"]["/api/v1/at-risk/"]["get"]["parameters"]}
    for name in ("churn_min", "churn_max"):
        assert params[name]["schema"]["type"] == "number"
        assert "0 to 1 (0.5 = 50 %)" in params[name]["description"]
    filters = schema["components"]["schemas"]["SegmentFilters"]["properties"]
    assert "0 to 1 (0.5 = 50 %)" in filters["churn_min"]["description"]


# ---- `limit` means one thing --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def _get_paths(schema, scored, *, lists_only: bool) -> list[str]:
    """Every documented GET path, path parameters filled with `scored`'s objects (lists only: those paged)."""
    values = {"customer_id": "C1", "product_id": "P1", "segment_id": scored["segment"].pk,
              "model_id": scored["model"].pk, "job_id": scored.get("job_id", 0)}
    paths = []
    for path, operations in schema["paths"].items():
        get = operations.get("get")
        if get is None or not path.startswith("/api/v1/") or path.endswith("/export/"):
            continue  # exports are files (CSV, or a customer's whole data as one document)
        names = {p["name"] for p in get.get("parameters", [])}
        if lists_only and "page_size" not in names:
            continue
        paths.append(path.format(**{name: values[name] for name in names if name in values}))
    return paths


def test_limit_on_the_at_risk_list_is_the_first_n_over_all_pages(clients, scored):
    client, seen = clients["marketer"], []
    url = "/api/v1/at-risk/?sort=churn&limit=3&page_size=2"
    while url:
        body = client.get(url).json()
        seen.append([row["customer_id"] for row in body["results"]])
        url = body["next"]
    assert seen == [["C1", "C2"], ["C3"]]


def test_a_segment_saved_with_a_limit_has_that_many_members_over_all_pages(clients, scored):
    client = clients["marketer"]
    made = client.post("/api/v1/segments/", {"name": "Top 2", "filters": {"limit": 2, "sort": "churn"}},
                       format="json").json()
    assert made["size"] == 2
    first = client.get(f"/api/v1/segments/{made['id']}/members/?page_size=1").json()
    second = client.get(first["next"]).json()
    assert [r["customer_id"] for r in first["results"] + second["results"]] == ["C1", "C2"]
    assert second["next"] is None


def test_every_other_list_refuses_limit_saying_page_size_sets_a_pages_length(clients, scored, schema):
    lists = _get_paths(schema, scored, lists_only=True)
    assert len(lists) >= 9 and "/api/v1/at-risk/" in lists
    for path in lists:
        if path == "/api/v1/at-risk/":
            continue
        body = assert_error(clients["admin"].get(path, {"limit": 2}), 400, "unknown_parameter")
        assert body["field"] == "limit" and "page_size sets the items per page" in body["message"], path
    # Where there is no list at all, `limit` is just an unknown parameter.
    body = assert_error(clients["admin"].get("/api/v1/me/", {"limit": 2}), 400, "unknown_parameter")
    assert "page_size" not in body["message"]


# ---- every timestamp carries its zone -------------------------------------------------------------------------

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
ZONED = re.compile(r"T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")  # one form everywhere: UTC, ISO 8601, `Z`


def _strings(data, where=""):
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _strings(value, f"{where}.{key}")
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _strings(value, f"{where}[{index}]")
    elif isinstance(data, str):
        yield where, data


def test_every_timestamp_in_every_documented_read_carries_its_zone(clients, shop, users, scored, schema):
    ApiToken.objects.filter(user=users["admin"], shop=shop).update(expires_at=timezone.now() + timedelta(days=9))
    job = job_create(shop=shop, kind=Job.Kind.SCORE, user=users["admin"], params={"as_of": "2026-06-30"})
    Job.objects.filter(pk=job.pk).update(started_at=timezone.now(), finished_at=timezone.now())
    customer = scored["customers"]["C1"]
    Review.objects.create(shop=shop, external_id="R1", customer=customer, product=scored["products"][0], rating=1,
                          text="late again", created_at=timezone.now())
    ForecastRun.objects.create(shop=shop, cutoff=scored["run"].as_of.date(), horizon_days=28,
                               status=ForecastRun.Status.DONE)
    checked = 0
    for path in _get_paths(schema, {**scored, "job_id": job.pk}, lists_only=False):
        response = clients["admin"].get(path)
        assert response.status_code == 200, (path, response.content[:300])
        for where, text in _strings(response.json()):
            if TIMESTAMP.match(text):
                checked += 1
                assert ZONED.search(text), f"{path} {where}: {text!r} is not UTC with `Z`"
    assert checked >= 30  # scored_at, as_of, created_at, assigned_at, expires_at, ... were all seen


# ---- rounding ------------------------------------------------------------------------------------------------


def test_probabilities_show_4_decimals_and_money_2(clients, scored):
    c1 = scored["customers"]["C1"]
    CustomerScore.objects.filter(customer=c1, task="churn").update(
        probability=0.812345678, p_alive=0.30000000000000004, spend_12m=99.999, revenue_at_risk=81.23456)
    Recommendation.objects.filter(customer=c1, rank=3).update(score=1 / 3)
    client = clients["marketer"]
    row = client.get("/api/v1/at-risk/", {"sort": "churn"}).json()["results"][0]
    assert row["customer_id"] == "C1"
    assert (row["churn_probability"], row["spend_12m"], row["revenue_at_risk"]) == (0.8123, 100.0, 81.23)
    scores = client.get("/api/v1/customers/C1/scores/", {"task": "churn"}).json()
    for score in (scores["current"]["churn"], scores["results"][0]):
        assert (score["probability"], score["p_alive"], score["spend_12m"], score["revenue_at_risk"]) == (
            0.8123, 0.3, 100.0, 81.23)
    recs = client.get("/api/v1/customers/C1/recommendations/").json()["results"]
    assert [r["score"] for r in recs] == [1.0, 0.5, 0.3333]
