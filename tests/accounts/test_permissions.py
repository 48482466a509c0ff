import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.test import RequestFactory

from accounts.permissions import can_view_personal_data, role_required
from tests.accounts.factories import UserFactory, member

URLS = "tests.accounts.urls_for_tests"


@role_required("analyst")
def _analyst_view(request):
    return HttpResponse("ok")


@pytest.mark.django_db
@pytest.mark.parametrize(("role", "allowed"), [("marketer", False), ("analyst", True), ("admin", True), (None, False)])
def test_role_required_lets_in_the_role_and_stronger_ones_only(shop, role, allowed):
    request = RequestFactory().get("/x/")
    request.session = {}
    request.user = UserFactory(role=role, shops=[shop])
    if allowed:
        assert _analyst_view(request).status_code == 200
    else:
        with pytest.raises(PermissionDenied):
            _analyst_view(request)


def test_role_required_sends_anonymous_users_to_login_not_403():
    request = RequestFactory().get("/x/")
    request.user = AnonymousUser()
    response = _analyst_view(request)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/x/")


def test_role_required_with_a_misspelt_role_fails_at_import_not_at_request():
    with pytest.raises(ValueError):
        role_required("analist")


@pytest.mark.django_db
@pytest.mark.urls(URLS)
def test_marketer_gets_a_403_page_not_a_redirect_on_an_analyst_page(client, shop):
    user = UserFactory(role="marketer", shops=[shop])
    client.force_login(user)
    response = client.get("/test/analyst/")
    assert response.status_code == 403
    assert "You cannot open this page" in response.content.decode()
    assert "analyst" in response.content.decode()  # the page says which role is needed


@pytest.mark.django_db
@pytest.mark.urls(URLS)
def test_analyst_opens_the_analyst_page(client, shop):
    client.force_login(UserFactory(role="analyst", shops=[shop]))
    assert client.get("/test/analyst/").content == b"analyst page"


@pytest.mark.django_db
@pytest.mark.urls(URLS)
@pytest.mark.parametrize(("role", "status"), [("marketer", 403), ("analyst", 403), ("admin", 200)])
def test_permission_required_403_follows_the_role_permissions(client, shop, role, status):
    client.force_login(UserFactory(role=role, shops=[shop]))
    assert client.get("/test/personal/").status_code == status


@pytest.mark.django_db
@pytest.mark.parametrize(("role", "expected"), [("marketer", False), ("analyst", False), ("admin", True)])
def test_personal_data_is_hidden_from_marketers_and_analysts(shop, role, expected):
    assert can_view_personal_data(UserFactory(role=role, shops=[shop]), shop) is expected


@pytest.mark.django_db
def test_admin_of_one_shop_does_not_see_personal_data_of_another_where_they_are_a_marketer(shop, other_shop):
    user = UserFactory(role="admin", shops=[shop])
    member(user, other_shop, "marketer")
    assert can_view_personal_data(user, shop) is True
    assert can_view_personal_data(user, other_shop) is False


@pytest.mark.django_db
def test_a_global_django_permission_grants_no_personal_data(shop):
    from django.contrib.auth.models import Permission

    user = UserFactory(role="marketer", shops=[shop])
    user.user_permissions.add(Permission.objects.get(codename="view_personal_data"))
    user = type(user).objects.get(pk=user.pk)  # drop the cached permissions
    assert can_view_personal_data(user, shop) is False  # roles come from the membership only


@pytest.mark.django_db
def test_anonymous_user_never_sees_personal_data(shop):
    assert can_view_personal_data(AnonymousUser(), shop) is False
