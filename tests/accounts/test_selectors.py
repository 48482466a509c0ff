import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.test import RequestFactory

from accounts.selectors import NoShopGranted, shop_for_request, user_has_role, user_role
from tests.accounts.factories import ShopFactory, UserFactory, member


def _request(user, session_shop=None):
    request = RequestFactory().get("/")
    request.user = user
    request.session = SessionStore()
    if session_shop is not None:
        request.session["shop"] = session_shop
    return request


@pytest.mark.django_db
def test_tampered_session_slug_of_another_shop_falls_back_to_the_users_own(shop, other_shop):
    user = UserFactory(role="marketer", shops=[shop])
    assert shop_for_request(_request(user, session_shop=other_shop.slug)) == shop


@pytest.mark.django_db
def test_session_choice_is_used_when_the_user_is_granted_it(shop, other_shop):
    user = UserFactory(role="marketer", shops=[shop, other_shop])
    assert shop_for_request(_request(user, session_shop=other_shop.slug)) == other_shop
    assert shop_for_request(_request(user, session_shop="no-such-shop")) == shop


@pytest.mark.django_db
def test_user_without_shops_gets_no_shop_granted_not_someone_elses(shop):
    user = UserFactory()
    with pytest.raises(NoShopGranted):
        shop_for_request(_request(user, session_shop=shop.slug))


@pytest.mark.django_db
def test_superuser_may_choose_any_shop(shop, other_shop):
    user = UserFactory(is_superuser=True)
    assert shop_for_request(_request(user, session_shop=other_shop.slug)) == other_shop


@pytest.mark.django_db
def test_shop_for_request_never_returns_a_shop_outside_the_grants():
    shops = [ShopFactory() for _ in range(4)]
    user = UserFactory(role="marketer", shops=shops[2:])
    for candidate in shops + [None]:
        slug = candidate.slug if candidate else None
        assert shop_for_request(_request(user, session_shop=slug)) in shops[2:]


@pytest.mark.django_db
def test_role_is_the_one_of_the_shop_in_question_not_the_strongest_anywhere(shop, other_shop):
    user = UserFactory(role="marketer", shops=[shop])
    member(user, other_shop, "admin")
    assert not user_has_role(user=user, shop=shop, roles=["analyst"])
    assert user_has_role(user=user, shop=shop, roles=["marketer"])
    assert user_has_role(user=user, shop=other_shop, roles=["admin"])
    assert user_role(user=user, shop=ShopFactory()) is None  # not a member: no role at all
