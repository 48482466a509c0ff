"""The OpenAPI schema and the API agree: what the schema forbids is a 400, what it allows is not refused,
and every response's media type is documented (the checks schemathesis runs in bench/fuzz_api.sh)."""

import json

import pytest
from django.test import Client
from drf_spectacular.generators import SchemaGenerator

from predictions.models import Segment
from tests.api.conftest import assert_error


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def test_unrouted_write_is_a_json_404_not_a_csrf_html_403(db):
    # A browser-less client gets Django's HTML CSRF page when the catch-all view is not CSRF-exempt.
    client = Client(enforce_csrf_checks=True)
    for method in ("post", "put", "patch", "delete"):
        assert_error(getattr(client, method)("/api/v1/segments/null,null/"), 404, "not_found")


@pytest.mark.parametrize("path", ["/api/v1/models/%29n%C3%BB%607%F0%94%90%BB_%0Aw/", "/api/v1/a%0Ab/", "/api/%0A"])
def test_unrouted_paths_holding_a_newline_are_a_json_404(clients, path):
    assert_error(clients["admin"].get(path), 404, "not_found")


def test_export_errors_are_json_even_with_format_csv(clients, scored):
    response = clients["admin"].get("/api/v1/segments/999999/export/", {"format": "csv"})
    assert response["Content-Type"].startswith("application/json")
    assert_error(response, 404, "not_found")


@pytest.mark.parametrize("url,param", [("/api/v1/jobs/", "status"), ("/api/v1/models/", "task"),
                                       ("/api/v1/customers/", "ordering"), ("/api/v1/at-risk/", "sort")])
def test_empty_query_value_is_400_not_silently_ignored(clients, scored, url, param):
    body = assert_error(clients["admin"].get(url, {param: ""}), 400, "blank")
    assert body["field"] == param


def test_empty_cursor_still_means_the_first_page(clients, scored):
    assert clients["admin"].get("/api/v1/segments/", {"cursor": ""}).status_code == 200


@pytest.mark.parametrize("url", ["/api/v1/jobs/score/", "/api/v1/jobs/recommendations/"])
def test_null_body_is_400_not_a_started_job(clients, shop, url):
    assert_error(clients["admin"].post(url, "null", content_type="application/json"), 400, "invalid_type")


def test_nul_in_an_unknown_key_is_refused_like_any_unknown_key(clients, shop):
    # Unknown keys of job bodies are refused since the second replay of issue 16 (they were ignored): one
    # holding a NUL gets the same 400 naming it, not a 500.
    body = json.dumps({"k": 5, "junk\u0000": "x\u0000"})
    answer = assert_error(clients["admin"].post("/api/v1/jobs/recommendations/", body,
                                                content_type="application/json"), 400)
    assert answer["field"] == "junk\u0000"


def test_nul_in_a_declared_field_is_still_400(clients, shop):
    assert_error(clients["admin"].post("/api/v1/segments/", {"name": "a\u0000b"}, format="json"), 400)
    assert not Segment.objects.exists()


@pytest.mark.parametrize("body", [{"name": 0}, {"name": "n", "filters": {"country": 0}},
                                  {"name": "n", "filters": {"churn_min": "5"}},
                                  {"name": "n", "filters": {"value_min": "1.5"}}])
def test_wrong_json_types_in_segment_bodies_are_400_not_coerced(clients, shop, body):
    assert_error(clients["admin"].post("/api/v1/segments/", body, format="json"), 400)
    assert not Segment.objects.exists()


def test_k_as_a_string_is_400(clients, shop):
    assert_error(clients["admin"].post("/api/v1/jobs/recommendations/", {"k": "5"}, format="json"), 400)


def test_schema_lists_the_algorithms_the_api_accepts(schema):
    from predictions.services.training import ALGORITHMS

    prop = schema["components"]["schemas"]["TrainInputRequest"]["properties"]["algorithms"]
    items = prop["items"]
    if "$ref" in items:
        items = schema["components"]["schemas"][items["$ref"].rsplit("/", 1)[1]]
    assert items["enum"] == list(ALGORITHMS)


def test_batch_schema_requires_an_array_body_but_no_item_fields(schema):
    # Items missing fields are rejected alone in a 200; a schema requiring them would promise a 400.
    for path in ("/api/v1/events/batch/", "/api/v1/orders/batch/"):
        body = schema["paths"][path]["post"]["requestBody"]
        assert body["required"] is True
        items_schema = body["content"]["application/json"]["schema"]
        assert items_schema["type"] == "array" and "required" not in items_schema["items"]
        assert "type" not in items_schema["items"]


def test_cursor_parameter_documents_its_alphabet(schema):
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            for param in operation.get("parameters", []):
                if param["name"] == "cursor":
                    assert param["schema"]["pattern"] == r"^[A-Za-z0-9+/_=-]*$", path


def test_saved_segment_ids_stay_within_the_documented_maximum(clients, shop, schema):
    # AtRiskFilter reads numbers through float: 2**63 - 1 was saved as 2**63, above the schema's maximum.
    maximum = schema["components"]["schemas"]["SegmentFilters"]["properties"]["segment"]["maximum"]
    # the largest id passes validation and is read exactly (no such segment exists: refused as such)
    created = assert_error(clients["admin"].post("/api/v1/segments/", {"name": "n", "filters": {"segment": maximum}},
                                                 format="json"), 400)
    assert f"No segment {maximum} in this shop" in created["message"]
    assert_error(clients["admin"].post("/api/v1/segments/", {"name": "m", "filters": {"segment": maximum + 1}},
                                       format="json"), 400)


def test_the_schema_documents_an_erasures_answer_and_an_unanalysed_reviews_sentiment(schema):
    erase = schema["paths"]["/api/v1/customers/{customer_id}/"]["delete"]["responses"]
    assert "200" in erase and "204" not in erase
    review = schema["components"]["schemas"]["ReviewOutput"]["properties"]["sentiment"]
    enums = [schema["components"]["schemas"][one["$ref"].rsplit("/", 1)[1]]["enum"] for one in review["oneOf"]]
    assert [""] in enums  # drf-spectacular writes a blank choice as oneOf [SentimentEnum, BlankEnum]
