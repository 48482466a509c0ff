import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session

from tests.accounts.factories import UserFactory

PASSWORD = "correct-horse-battery"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/admin/", "/customers/", "/no/such/page/", "/accounts/shop/"])
def test_anonymous_user_is_sent_to_login_from_every_page(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith(f"/accounts/login/?next={path}")


@pytest.mark.django_db
def test_roles_carry_their_permissions_and_no_global_role_group_is_left():
    from django.contrib.auth.models import Group

    from accounts.selectors import role_allows

    assert not role_allows("marketer", "import_data")
    assert role_allows("analyst", "import_data")
    assert role_allows("admin", "view_personal_data") and not role_allows("analyst", "view_personal_data")
    assert not Group.objects.filter(name__in=["marketer", "analyst", "admin"]).exists()


@pytest.mark.django_db
def test_login_page_renders_with_the_stylesheet_and_a_csrf_field(client):
    response = client.get("/accounts/login/")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="username"' in html and 'name="password"' in html
    assert "csrfmiddlewaretoken" in html
    assert "css/app.css" in html


@pytest.mark.django_db
def test_login_then_home_shows_the_dashboard(client, shop):
    user = UserFactory(role="marketer", shops=[shop])
    response = client.post("/accounts/login/", {"username": user.username, "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == "/"
    assert "Dashboard" in response.content.decode()
    assert shop.name in response.content.decode()


@pytest.mark.django_db
def test_login_goes_back_to_the_page_asked_for(client, shop):
    user = UserFactory(role="marketer", shops=[shop])
    response = client.post("/accounts/login/?next=/segments/", {"username": user.username, "password": PASSWORD})
    assert response["Location"] == "/segments/"


@pytest.mark.django_db
def test_login_refuses_to_redirect_to_another_site(client, shop):
    user = UserFactory(role="marketer", shops=[shop])
    response = client.post(
        "/accounts/login/?next=https://evil.example/", {"username": user.username, "password": PASSWORD}
    )
    assert response["Location"] == "/"


@pytest.mark.django_db
def test_session_key_rotates_on_login_against_session_fixation(client, shop):
    user = UserFactory(role="marketer", shops=[shop])
    session = client.session
    session["planted"] = "by an attacker"
    session.save()
    fixed_key = session.session_key
    response = client.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302
    assert client.session.session_key != fixed_key
    assert client.session[SESSION_KEY] == str(user.pk)
    assert not Session.objects.filter(session_key=fixed_key).exists()


@pytest.mark.django_db
def test_wrong_password_shows_an_error_and_logs_nobody_in(client, shop):
    user = UserFactory(role="marketer", shops=[shop])
    response = client.post("/accounts/login/", {"username": user.username, "password": "wrong-password-1"})
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    assert SESSION_KEY not in client.session


@pytest.mark.django_db
def test_logout_by_post_ends_the_session(client, shop):
    client.force_login(UserFactory(role="marketer", shops=[shop]))
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert "You are logged out." in client.get("/accounts/login/").content.decode()  # not a session that ran out
    assert client.get("/").status_code == 302


@pytest.mark.django_db
def test_logout_by_get_is_refused_so_a_link_cannot_log_users_out(client, shop):
    client.force_login(UserFactory(role="marketer", shops=[shop]))
    assert client.get("/accounts/logout/").status_code == 405
    assert client.get("/").status_code == 200


@pytest.mark.django_db
def test_api_paths_are_left_to_the_api_auth_not_redirected_to_login(client):
    # No API route exists in this test's URLs: a 404, and above all not a 302 to the login page.
    assert client.get("/api/v1/no-such-endpoint/").status_code != 302
