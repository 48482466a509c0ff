"""The busiest reads (a customer's recommendations and scores, at-risk pages) answer every kind of call with
the status, headers and bytes they gave before their hand-written fast path was removed: read_answers.json
holds those answers, captured from that code (changed since only by issue 18 §1: at-risk rows carry
`scored_at` and `ordered_since_scoring`, current scores `ordered_since_scoring`; and by §4:
`churn_min` takes a probability from 0 to 1, so its error message changed; and by the lapsed mark: at-risk rows
carry `lapsed`, and so does each of a customer's scores, current and history; and by a new user's review: a
refused choice names its parameter and lists the choices, `No such segment.` ends with its full stop, and a
`Token …` header is told the scheme this API takes). @RUN@ stands for the scoring run's
id, @CURSORn@ for the at-risk cursor at offset n, @SEGMENT@ for the segment's id. Each one is requested, and
every `next` link followed, through the API as it is now."""

import base64
import json
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import override_settings

from accounts.models import ApiToken
from accounts.tokens import api_token_revoke, token_hash
from catalog.models import Product
from ecomsight.api.pagination import DEFAULT_PAGE_SIZE
from recommendations.models import Recommendation, RecommenderVersion

from .conftest import assert_error, bearer
from .test_token_checks_and_reads import _throttle_counts

RECS, SCORES = "/api/v1/customers/C1/recommendations/", "/api/v1/customers/C1/scores/"


def _cases() -> list[list[dict]]:
    cases: list[list[dict]] = []
    for answer in json.loads((Path(__file__).parent / "read_answers.json").read_text()):
        if answer["page"] == 0:
            cases.append([])
        cases[-1].append(answer)
    return cases


CASES = _cases()


def _filled(text: str, *, run: int, segment: int) -> str:
    for offset in range(20):
        cursor = base64.urlsafe_b64encode(json.dumps({"r": run, "o": offset}).encode()).decode()
        text = text.replace(f"@CURSOR{offset}@", cursor.replace("=", "%3D"))
    return text.replace("@RUN@", str(run)).replace("@SEGMENT@", str(segment))


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]['role']} {c[0]['path'][:60]} {c[0]['headers']}" for c in CASES])
def test_each_call_gets_the_answer_it_always_got(clients, scored, case):
    run, segment = scored["run"].pk, scored["segment"].pk
    path = _filled(case[0]["path"], run=run, segment=segment)
    for expected in case:
        assert path, expected["path"]
        response = clients[expected["role"]].get(path, headers=expected["headers"])
        headers = {k: v for k, v in response.headers.items() if k not in ("Content-Security-Policy", "Content-Length")}
        assert response.status_code == expected["status"], path
        assert headers == expected["response_headers"], path
        assert response.content.decode() == _filled(expected["body"], run=run, segment=segment), path
        assert int(response["Content-Length"]) == len(response.content)
        path = response.json().get("next") if response.status_code == 200 and "indent" not in str(expected) else None
    assert path is None or len(case) == 4  # every page there was, up to four


def _more_recommendations_than_a_page(shop, scored) -> str:
    products = Product.objects.bulk_create([Product(shop=shop, external_id=f"X{i}", title=f"Extra {i}")
                                            for i in range(DEFAULT_PAGE_SIZE + 1)])
    version = RecommenderVersion.objects.get(shop=shop)
    Recommendation.objects.bulk_create([
        Recommendation(shop=shop, version=version, customer=scored["customers"]["C3"], product=product, rank=rank,
                       score=1 / rank, source="popularity", reason="popular")
        for rank, product in enumerate(products, start=1)])
    return "/api/v1/customers/C3/recommendations/"


def test_more_than_a_page_of_recommendations_is_paged(clients, shop, scored):
    path = _more_recommendations_than_a_page(shop, scored)
    first = clients["marketer"].get(path).json()
    assert len(first["results"]) == DEFAULT_PAGE_SIZE and first["next"] and first["previous"] is None
    second = clients["marketer"].get(first["next"]).json()
    assert [r["rank"] for r in first["results"] + second["results"]] == list(range(1, DEFAULT_PAGE_SIZE + 2))
    assert second["next"] is None and second["previous"]


def test_a_revoked_token_is_refused_at_once(users, shop, scored, tokens):
    client = bearer(tokens["analyst"])
    assert client.get(RECS).status_code == 200
    api_token_revoke(token=ApiToken.objects.get(key_hash=token_hash(tokens["analyst"])))
    response = client.get(RECS)
    assert "revoked" in assert_error(response, 401, "authentication_failed")["message"]
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_the_reads_keep_the_tokens_rate_limit(tokens, scored):
    rest = {**django_settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token": "3/day"}}  # one window
    client = bearer(tokens["marketer"])
    with override_settings(REST_FRAMEWORK=rest):
        codes = [client.get(SCORES).status_code for _ in range(3)]
        response = client.get(RECS)
    assert codes == [200, 200, 200]
    assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) >= 1


@pytest.mark.parametrize("case", ["first page", "unknown customer", "paged", "invalid token"])
def test_a_call_counts_once_against_the_limit(tokens, shop, scored, case):
    path = {"first page": RECS, "unknown customer": "/api/v1/customers/NOPE/recommendations/",
            "paged": _more_recommendations_than_a_page(shop, scored) if case == "paged" else None,
            "invalid token": RECS}[case]
    plain = tokens["analyst"]
    if case == "invalid token":
        api_token_revoke(token=ApiToken.objects.get(key_hash=token_hash(plain)))
    before = _throttle_counts(plain)
    assert bearer(plain).get(path).status_code == {"unknown customer": 404, "invalid token": 401}.get(case, 200)
    assert _throttle_counts(plain) - before == (0 if case == "invalid token" else 1)
