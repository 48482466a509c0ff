import pytest

from accounts.models import Shop


@pytest.fixture
def shop(db):
    return Shop.objects.create(slug="acme", name="Acme")


@pytest.fixture
def other_shop(db):
    return Shop.objects.create(slug="globex", name="Globex")
