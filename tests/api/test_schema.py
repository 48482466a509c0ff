"""The OpenAPI document, and a light in-process fuzz of every operation in it: hand-made bad inputs
must never give a 5xx, and every error must be in the one format. (bench/fuzz_api.sh runs schemathesis.)"""

import pytest
from drf_spectacular.generators import SchemaGenerator

BAD_PATH_VALUES = ["0", "-1", "99999999999999999999999999", "%00", "x" * 300, "%E2%80%AE", "nope"]
BAD_QUERY_VALUES = ["abc", "-1", "", "1e400", "99999999999999999999999", "%00", "a\x00b", "true", "[]"]
BAD_BODIES = ["{", "[]", "{}", "null", '"text"', "[1, 2]", '{"name": {"a": 1}, "task": 5, "k": "x"}',
              '[{"event_id": 1, "order_id": [], "placed_at": 5}]', '{"name": "\\u0000"}']


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def test_the_docs_name_the_web_page_that_makes_tokens(schema):
    assert "/accounts/tokens/" in schema["info"]["description"]
    assert "/accounts/tokens/" in schema["components"]["securitySchemes"]["bearerAuth"]["description"]


def test_schema_declares_bearer_auth_and_examples_everywhere(schema):
    assert schema["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": schema["components"]["securitySchemes"]["bearerAuth"][
            "description"]}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            ok = operation["responses"].get("200") or operation["responses"].get("201") \
                or operation["responses"].get("202")
            if ok is None:
                continue
            content = next(iter(ok["content"].values()))
            assert content.get("examples"), f"{method} {path} has no response example"
            if path != "/api/v1/health/":
                assert {"bearerAuth": []} in operation["security"], f"{method} {path}"
                assert "401" in operation["responses"], f"{method} {path}"


def test_schema_and_docs_pages_are_served(db, client):
    assert client.get("/api/schema/").status_code == 200
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger-ui" in docs.content and b"cdn" not in docs.content.lower()


def _fill(path: str, value: str) -> str:
    import re

    return re.sub(r"\{[^}]+\}", value, path)


def test_every_operation_survives_bad_inputs(schema, clients, scored):
    client = clients["admin"]
    seen = 0
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            calls = [(_fill(path, v), {}, None) for v in BAD_PATH_VALUES] if "{" in path else []
            real = _fill(path, str(scored["segment"].pk) if "segment" in path else
                         str(scored["model"].pk) if "model" in path else "C1" if "customer" in path else "P1")
            for param in operation.get("parameters", []):
                if param["in"] == "query":
                    calls += [(real, {param["name"]: v}, None) for v in BAD_QUERY_VALUES]
            if method in ("post", "put", "patch"):
                calls += [(real, {}, body) for body in BAD_BODIES]
            for url, query, body in calls:
                if method == "get":
                    response = client.get(url, query)
                elif body is None:
                    response = getattr(client, method)(url)
                else:
                    response = getattr(client, method)(url, body, content_type="application/json")
                seen += 1
                assert response.status_code < 500, (method, url, query, body, response.content[:300])
                if response.status_code >= 400:
                    data = response.json()
                    assert set(data) == {"status", "code", "message", "field"}, (method, url, data)
                    assert data["status"] == response.status_code
                    assert str(response.status_code) in operation["responses"], (method, url, response.status_code)
    assert seen > 300
