"""A new user's stumbles on the API's error messages: a refused choice that did not say what to choose, two
wordings of one 404, and a token sent under another scheme word answered "credentials were not provided"."""

import pytest
from rest_framework.test import APIClient

from .conftest import assert_error


@pytest.mark.parametrize(("query", "words"), [
    ("band=hgih", "Unknown risk band “hgih” for `band`: choose among high, medium, low."),
    ("band=high&band=hgih", "Unknown risk band “hgih” for `band`: choose among high, medium, low."),
    ("bands=purple", "Unknown risk band “purple” for `bands`: choose among high, medium, low."),
    ("sort=foo", "Unknown value “foo” for `sort`: choose among risk, churn, purchase, value, last_order"),
])
def test_a_refused_at_risk_choice_names_the_parameter_and_lists_the_choices(clients, scored, query, words):
    # `band=hgih` said only '"hgih" is not a valid choice.', unlike `bands=purple`; `sort=foo` listed nothing.
    body = assert_error(clients["marketer"].get(f"/api/v1/at-risk/?{query}"), 400, "invalid_choice")
    assert body["message"].startswith(words), body


@pytest.mark.parametrize(("query", "choices"), [
    ("aspect=speed", "delivery, quality, price, size_fit, packaging, customer_service"),
    ("sentiment=good", "positive, neutral, negative")])
def test_a_refused_review_filter_lists_the_choices(clients, shop, query, choices):
    name, value = query.split("=")
    body = assert_error(clients["marketer"].get(f"/api/v1/reviews/?{query}"), 400, "invalid_choice")
    assert body["message"] == f"Unknown value “{value}” for `{name}`: choose among {choices}.", body


def test_a_refused_choice_in_a_segments_body_lists_the_choices_too(clients, scored):
    body = assert_error(clients["marketer"].post("/api/v1/segments/", {"name": "x", "filters": {"bands": ["hgih"]}},
                                                 format="json"), 400, "invalid_choice")
    assert "“hgih” for `bands`: choose among high, medium, low." in body["message"], body


def test_an_unknown_customer_is_one_404_wording_everywhere(clients, scored):
    """`customers/nope/` said "No Customer matches the given query.", `customers/nope/scores/` "No such customer."."""
    for path in ("/api/v1/customers/nope/", "/api/v1/customers/nope/scores/",
                 "/api/v1/customers/nope/recommendations/"):
        assert assert_error(clients["admin"].get(path), 404, "not_found")["message"] == "No such customer.", path
    assert assert_error(clients["admin"].get("/api/v1/jobs/999999/"), 404)["message"] == "No such job."
    assert assert_error(clients["admin"].get("/api/v1/at-risk/?segment=999999"), 404)["message"] == "No such segment."


@pytest.mark.parametrize("scheme", ["Token", "token", "Basic"])
def test_a_token_under_another_scheme_word_is_told_the_scheme_this_api_takes(tokens, scheme):
    # `Authorization: Token …` (DRF's TokenAuthentication word) answered "Authentication credentials were not
    # provided.", as if no header had been sent.
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{scheme} {tokens['marketer']}")
    response = client.get("/api/v1/me/")
    body = assert_error(response, 401, "not_authenticated")
    assert body["message"] == (f"The Authorization header uses the scheme “{scheme}”; this API takes a token as "
                               "`Authorization: Bearer <token>`.")
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_no_authorization_header_still_says_no_credentials(db):
    body = assert_error(APIClient().get("/api/v1/me/"), 401, "not_authenticated")
    assert body["message"] == "Authentication credentials were not provided."
