"""The Alerts page as each role reads it: actions only for roles that may use them, words rather than codes, a
series link to what was alerted, and cards on a phone (browser24)."""

import datetime as dt

import pytest

from forecasts.models import Alert, MonitorMute
from tests.accounts.factories import UserFactory
from tests.phone_cards import assert_rows_as_cards


def _alert(shop, **kw):
    fields = {"metric": "refunds", "segment": "country:DE", "direction": "up", "start": dt.date(2026, 12, 5),
              "end": dt.date(2026, 12, 5), "expected": 0.9, "actual": 26.0, "score": 9.5} | kw
    return Alert.objects.create(shop=shop, **fields)


def _page(client, shop, role):
    client.force_login(UserFactory(role=role, shops=[shop]))
    response = client.get("/alerts/")
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.django_db
def test_a_marketer_sees_no_acknowledge_or_mute_button_that_would_answer_403(client, shop):
    """browser24 M4: every alert offered Acknowledge and Mute to a marketer, and both answered 403."""
    _alert(shop)
    MonitorMute.objects.create(shop=shop, metric="revenue", segment="shop")
    page = _page(client, shop, "marketer")
    assert "/alerts/acknowledge/" not in page and "/alerts/mute/" not in page
    assert ">Acknowledge<" not in page and ">Mute<" not in page and ">Unmute<" not in page
    assert "An analyst can acknowledge or mute alerts" in page
    analyst = _page(client, shop, "analyst")
    assert ">Acknowledge</button>" in analyst and ">Mute</button>" in analyst and ">Unmute</button>" in analyst
    assert "An analyst can acknowledge or mute alerts" not in analyst


@pytest.mark.django_db
def test_on_a_phone_each_alert_is_a_card_with_what_happened_not_a_sideways_scroll(client, shop):
    """browser24 M5: at 390 px the alerts table (771 px) hid What happened, Status and the buttons off screen."""
    _alert(shop)
    assert_rows_as_cards(_page(client, shop, "analyst"), "alert-table")
