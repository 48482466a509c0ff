import pytest
from django.contrib.auth.models import User

from accounts.models import AuditLog
from accounts.services import user_create_or_update
from ecomsight.errors import UserError
from tests.accounts.factories import UserFactory

GOOD = "plum-orchard-lantern-42"


@pytest.mark.django_db
def test_unknown_role_is_refused_before_anything_is_written(shop):
    with pytest.raises(UserError) as excinfo:
        user_create_or_update(username="x", role="owner", password=GOOD, shops=[shop])
    assert excinfo.value.field == "role"
    assert not User.objects.filter(username="x").exists()


@pytest.mark.django_db
def test_new_user_without_password_is_refused(shop):
    with pytest.raises(UserError, match="password"):
        user_create_or_update(username="x", role="marketer", password=None, shops=[shop])


@pytest.mark.django_db
def test_update_without_password_keeps_the_old_one(shop):
    user = UserFactory(username="x", role="analyst")
    user_create_or_update(username="x", role="marketer", password=None, shops=None)
    user.refresh_from_db()
    assert user.check_password("correct-horse-battery")


@pytest.mark.django_db
def test_superuser_keeps_admin_site_access_when_given_a_lower_role(shop):
    UserFactory(username="root", is_superuser=True, is_staff=True)
    user = user_create_or_update(username="root", role="marketer", password=None, shops=None)
    assert user.is_staff


@pytest.mark.django_db
def test_actor_is_recorded_on_role_change(shop):
    admin = UserFactory(role="admin")
    user_create_or_update(username="y", role="analyst", password=GOOD, shops=[shop], actor=admin)
    entry = AuditLog.objects.get(action="membership.create", target="y")
    assert (entry.user, entry.shop, entry.details) == (admin, shop, {"role": "analyst"})
