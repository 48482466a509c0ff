"""The usual call of a customer's recommendations and scores, served without DRF's dispatch (ecomsight.api.hot):
the same status, headers and bytes as through DRF for every kind of call, each check kept (token, revocation,
throttle), and a call handed over to DRF counted once."""

import json

import pytest
from django.conf import settings as django_settings
from django.test import override_settings
from rest_framework.response import Response

from accounts.models import ApiToken
from accounts.tokens import api_token_revoke, token_hash
from catalog.models import Product
from ecomsight.api.pagination import DEFAULT_PAGE_SIZE
from recommendations.models import Recommendation, RecommenderVersion

from .conftest import assert_error, bearer
from .test_fast_paths import _throttle_counts

RECS, SCORES = "/api/v1/customers/C1/recommendations/", "/api/v1/customers/C1/scores/"


def _answer(client, path: str, settings, *, hot: bool, **headers) -> tuple:
    settings.API_HOT_PATHS = hot
    response = client.get(path, headers=headers)
    return response.status_code, dict(response.headers), response.content, isinstance(response, Response)


@pytest.mark.parametrize("path", [RECS, SCORES])
@pytest.mark.parametrize("accept", [None, "*/*", "application/json"])
def test_the_usual_call_gets_the_same_answer_as_through_drf_without_its_dispatch(
        clients, scored, settings, path, accept):
    headers = {"accept": accept} if accept is not None else {}
    hot = _answer(clients["marketer"], path, settings, hot=True, **headers)
    drf = _answer(clients["marketer"], path, settings, hot=False, **headers)
    assert hot[0] == 200 and hot[2] == drf[2] and hot[1] == drf[1]
    assert not hot[3] and drf[3]  # served by the hot path, and by DRF with API_HOT_PATHS off
    body = drf[2].decode()
    assert ('"product":{"id":"P1"' in body) if path == RECS else ('"current":{"churn":{' in body)


@pytest.mark.parametrize(("path", "headers", "status", "served_hot"), [
    ("/api/v1/customers/C2/recommendations/", {}, 200, True),  # no recommendations: an empty page
    ("/api/v1/customers/NOPE/recommendations/", {}, 404, True),
    ("/api/v1/customers/NOPE/scores/", {}, 404, True),
    ("/api/v1/customers/%00/scores/", {}, 404, False),
    (RECS + "?page_size=2", {}, 200, False),
    (SCORES + "?task=churn", {}, 200, False),
    (RECS, {"accept": "application/json; indent=4"}, 200, False),
    (RECS, {"accept": "text/html"}, 406, False),
    (SCORES, {"accept": ""}, 406, False),
    (RECS, {"authorization": "Bearer"}, 401, False),
    (RECS, {"authorization": "Bearer not-a-token"}, 401, False),
    (SCORES, {"authorization": "Token abc"}, 401, False),
])
def test_every_other_call_gets_the_same_answer_as_through_drf(clients, scored, settings, path, headers, status,
                                                               served_hot):
    client = clients["anonymous" if "authorization" in headers else "marketer"]  # credentials would win
    hot = _answer(client, path, settings, hot=True, **headers)
    drf = _answer(client, path, settings, hot=False, **headers)
    assert hot[0] == status and hot[:3] == drf[:3]
    assert hot[3] is not served_hot
    if status >= 400:
        assert set(json.loads(hot[2])) == {"status", "code", "message", "field"}


def _more_recommendations_than_a_page(shop, scored) -> str:
    products = Product.objects.bulk_create([Product(shop=shop, external_id=f"X{i}", title=f"Extra {i}")
                                            for i in range(DEFAULT_PAGE_SIZE + 1)])
    version = RecommenderVersion.objects.get(shop=shop)
    Recommendation.objects.bulk_create([
        Recommendation(shop=shop, version=version, customer=scored["customers"]["C3"], product=product, rank=rank,
                       score=1 / rank, source="popularity", reason="popular")
        for rank, product in enumerate(products, start=1)])
    return "/api/v1/customers/C3/recommendations/"


def test_more_than_a_page_is_handed_to_drf_and_paged_as_before(clients, shop, scored, settings):
    path = _more_recommendations_than_a_page(shop, scored)
    hot = _answer(clients["marketer"], path, settings, hot=True)
    drf = _answer(clients["marketer"], path, settings, hot=False)
    assert hot[0] == 200 and hot[:3] == drf[:3] and hot[3]
    body = json.loads(hot[2])
    assert len(body["results"]) == DEFAULT_PAGE_SIZE and body["next"]


def test_a_revoked_token_is_refused_at_once_on_the_hot_path(users, shop, scored, tokens):
    client = bearer(tokens["analyst"])
    assert client.get(RECS).status_code == 200  # verified and kept in this process
    api_token_revoke(token=ApiToken.objects.get(key_hash=token_hash(tokens["analyst"])))
    response = client.get(RECS)
    assert "revoked" in assert_error(response, 401, "authentication_failed")["message"]
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_the_hot_path_keeps_the_tokens_rate_limit(tokens, scored):
    rest = {**django_settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token": "3/day"}}  # one window
    client = bearer(tokens["marketer"])
    with override_settings(REST_FRAMEWORK=rest):
        codes = [client.get(SCORES).status_code for _ in range(3)]
        response = client.get(RECS)
    assert codes == [200, 200, 200]
    assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) >= 1


@pytest.mark.parametrize("case", ["hot", "unknown customer", "handed over", "invalid token"])
def test_a_call_counts_once_whether_the_hot_path_or_drf_answers_it(tokens, shop, scored, case):
    path = {"hot": RECS, "unknown customer": "/api/v1/customers/NOPE/recommendations/",
            "handed over": _more_recommendations_than_a_page(shop, scored) if case == "handed over" else None,
            "invalid token": RECS}[case]
    plain = tokens["analyst"]
    if case == "invalid token":
        api_token_revoke(token=ApiToken.objects.get(key_hash=token_hash(plain)))
    before = _throttle_counts(plain)
    assert bearer(plain).get(path).status_code == {"unknown customer": 404, "invalid token": 401}.get(case, 200)
    assert _throttle_counts(plain) - before == 1


AT_RISK = "/api/v1/at-risk/"


@pytest.mark.parametrize("role", ["marketer", "admin"])  # admins see email and name
@pytest.mark.parametrize("query", ["", "?band=high", "?sort=churn&band=high&band=medium", "?page_size=2",
                                   "?value_min=50&days_min=0", "?segment={segment}"])
def test_at_risk_pages_are_the_same_on_the_hot_path_following_their_links(clients, scored, settings, role, query):
    path = AT_RISK + query.format(segment=scored["segment"].pk)
    pages = 0
    while path and pages < 4:
        hot = _answer(clients[role], path, settings, hot=True)
        drf = _answer(clients[role], path, settings, hot=False)
        assert hot[0] == 200 and hot[2] == drf[2] and hot[1] == drf[1], path
        assert not hot[3] and drf[3]
        body = json.loads(hot[2])
        assert body["results"] and ("email" in body["results"][0]) and \
            (body["results"][0]["email"] is not None) is (role == "admin")
        path, pages = body["next"], pages + 1
    assert pages >= (2 if "page_size" in query else 1)


@pytest.mark.parametrize(("query", "status", "served_hot"), [
    ("?band=", 400, False),  # blank: refused before the token is checked, as in DRF
    ("?country=%00", 400, False),
    ("?sort=bogus", 400, True),
    ("?churn_min=lots", 400, True),
    ("?page_size=0", 400, True),
    ("?cursor=not-a-cursor", 400, True),
    ("?segment=999999", 200, True),  # no such segment: nobody in it
    ("?format=xml", 404, False),  # DRF's content negotiation reads `format`
    ("?format=json", 200, False),
    ("?" + "&".join(["band=high"] * 1001), 400, False),  # more fields than Django reads: the JSON error
])
def test_at_risk_refusals_are_the_same_on_the_hot_path(clients, scored, settings, query, status, served_hot):
    hot = _answer(clients["marketer"], AT_RISK + query, settings, hot=True)
    drf = _answer(clients["marketer"], AT_RISK + query, settings, hot=False)
    assert hot[:3] == drf[:3] and hot[0] == status
    assert hot[3] is not served_hot
    if status >= 400:
        assert set(json.loads(hot[2])) == {"status", "code", "message", "field"}
