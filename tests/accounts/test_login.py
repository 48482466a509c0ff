import pytest

from tests.accounts.factories import UserFactory


@pytest.mark.django_db
def test_anonymous_home_redirects_to_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_roles_exist_with_permissions_after_migrate():
    from django.contrib.auth.models import Group

    perms = {g.name: set(g.permissions.values_list("codename", flat=True)) for g in Group.objects.all()}
    assert "import_data" not in perms["marketer"]
    assert "import_data" in perms["analyst"]
    assert "view_personal_data" in perms["admin"]


@pytest.mark.django_db
def test_login_then_home_shows_the_page(client, shop):
    user = UserFactory(role="marketer", shops=[shop])
    assert client.login(username=user.username, password="correct-horse-battery")
    response = client.get("/")
    assert response.status_code == 200
