"""The permission matrix (anonymous / marketer / analyst / admin × endpoints) and shop isolation."""

import pytest

from accounts.models import Job
from predictions.models import Segment

from .conftest import assert_error

# (method, path template, expected status per role: anonymous, marketer, analyst, admin)
MATRIX = [
    ("get", "/api/v1/health/", (200, 200, 200, 200)),
    ("get", "/api/v1/me/", (401, 200, 200, 200)),
    ("get", "/api/v1/customers/", (401, 200, 200, 200)),
    ("get", "/api/v1/customers/C1/", (401, 200, 200, 200)),
    ("get", "/api/v1/customers/C1/scores/", (401, 200, 200, 200)),
    ("get", "/api/v1/customers/C1/interests/", (401, 200, 200, 200)),
    ("get", "/api/v1/customers/C1/recommendations/", (401, 200, 200, 200)),
    ("get", "/api/v1/products/P1/similar/", (401, 200, 200, 200)),
    ("get", "/api/v1/at-risk/", (401, 200, 200, 200)),
    ("get", "/api/v1/segments/", (401, 200, 200, 200)),
    ("get", "/api/v1/segments/{segment}/", (401, 200, 200, 200)),
    ("get", "/api/v1/segments/{segment}/members/", (401, 200, 200, 200)),
    ("get", "/api/v1/segments/{segment}/export/", (401, 200, 200, 200)),
    ("get", "/api/v1/models/", (401, 200, 200, 200)),
    ("get", "/api/v1/models/{model}/", (401, 200, 200, 200)),
    ("get", "/api/v1/jobs/", (401, 200, 200, 200)),
    ("post", "/api/v1/events/batch/", (401, 403, 200, 200)),
    ("post", "/api/v1/orders/batch/", (401, 403, 200, 200)),
    ("post", "/api/v1/jobs/train/", (401, 403, 202, 202)),
    ("post", "/api/v1/jobs/recommendations/", (401, 403, 202, 202)),
    ("post", "/api/v1/models/{model}/promote/", (401, 403, 200, 200)),
]
BODIES = {"/api/v1/events/batch/": [], "/api/v1/orders/batch/": [], "/api/v1/jobs/train/": {"task": "churn"},
          "/api/v1/jobs/recommendations/": {"k": 5}}


@pytest.mark.parametrize(("method", "template", "expected"), MATRIX, ids=[f"{m} {p}" for m, p, _ in MATRIX])
def test_permission_matrix(clients, scored, method, template, expected):
    path = template.format(segment=scored["segment"].pk, model=scored["model"].pk)
    for role, status in zip(("anonymous", "marketer", "analyst", "admin"), expected, strict=True):
        client = clients[role]
        response = client.post(path, BODIES.get(template), format="json") if method == "post" else client.get(path)
        assert response.status_code == status, (role, path, response.status_code, response.content[:300])
        if status >= 400:
            assert_error(response, status)


def test_marketer_can_manage_segments_but_not_start_scoring(clients, scored):
    created = clients["marketer"].post("/api/v1/segments/", {"name": "Mine"}, format="json")
    assert created.status_code == 201
    assert_error(clients["marketer"].post("/api/v1/jobs/score/", {}, format="json"), 403)


def test_personal_data_only_for_admins(clients, scored):
    for role, visible in (("marketer", False), ("analyst", False), ("admin", True)):
        customer = clients[role].get("/api/v1/customers/C1/").json()
        row = clients[role].get("/api/v1/at-risk/").json()["results"][0]
        assert (customer["email"] is not None) is visible, role
        assert (row["email"] is not None) is visible, role
        assert (customer["name"] is not None) is visible, role


def test_another_shops_token_never_sees_this_shops_objects(other_client, scored):
    seg, model = scored["segment"].pk, scored["model"].pk
    for path in ("/api/v1/customers/C1/", "/api/v1/customers/C1/scores/", "/api/v1/customers/C1/interests/",
                 "/api/v1/customers/C1/recommendations/",
                 "/api/v1/products/P1/similar/", f"/api/v1/segments/{seg}/", f"/api/v1/segments/{seg}/members/",
                 f"/api/v1/segments/{seg}/export/", f"/api/v1/models/{model}/"):
        assert_error(other_client.get(path), 404)
    for path in ("/api/v1/customers/", "/api/v1/segments/", "/api/v1/models/", "/api/v1/jobs/", "/api/v1/at-risk/"):
        assert other_client.get(path).json()["results"] == [], path
    assert_error(other_client.patch(f"/api/v1/segments/{seg}/", {"name": "hijack"}, format="json"), 404)
    assert_error(other_client.delete(f"/api/v1/segments/{seg}/"), 404)
    assert_error(other_client.post(f"/api/v1/models/{model}/promote/"), 404)
    assert Segment.objects.filter(pk=seg, name="High").exists()


def test_at_risk_segment_filter_of_another_shop_is_not_found(other_client, scored):
    response = other_client.get("/api/v1/at-risk/", {"segment": scored["segment"].pk})
    assert_error(response, 404, "not_found")


def test_creates_land_in_the_tokens_shop(other_client, other_shop, shop, scored):
    other_client.post("/api/v1/segments/", {"name": "High"}, format="json")
    assert Segment.objects.filter(shop=other_shop, name="High").exists()
    other_client.post("/api/v1/jobs/recommendations/", {}, format="json")
    assert Job.objects.filter(shop=other_shop, kind="recommend").exists()
    assert not Job.objects.filter(shop=shop).exists()
