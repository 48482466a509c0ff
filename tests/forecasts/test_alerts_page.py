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


@pytest.mark.django_db
@pytest.mark.parametrize(("metric", "segment", "query", "note"), [
    ("refunds", "country:DE", "level=country&amp;measure=orders&amp;freq=day&amp;key=DE",
     "the forecast page shows orders and revenue, not refunds"),
    ("revenue", "shop", "level=shop&amp;measure=revenue&amp;freq=day", None),
    ("orders", "category:Home &gt; Kitchen", "level=category&amp;measure=orders&amp;freq=day&amp;key=Home+%3E+Kitchen",
     None),
    ("events_view", "shop", "level=shop&amp;measure=orders&amp;freq=day", "not site events"),
])
def test_an_alerts_series_link_opens_its_metric_and_segment_or_says_what_it_shows_instead(
        client, shop, metric, segment, query, note):
    """browser24 L7: every alert's "series" link opened the shop's orders per day, whatever was alerted."""
    _alert(shop, metric=metric, segment=segment.replace("&gt;", ">"))
    page = _page(client, shop, "marketer")
    assert f'href="/forecasts/?{query}&amp;alert=' in page
    assert 'href="/forecasts/?freq=day"' not in page
    if note:
        assert note in page


@pytest.mark.django_db
def test_a_muted_monitors_alert_says_muted_and_offers_no_second_mute(client, shop):
    """browser24 L7: after Mute, the muted monitor's alert row still offered Mute."""
    _alert(shop, metric="revenue", segment="shop", actual=1234.5)
    _alert(shop, metric="refunds", segment="country:SE", start=dt.date(2026, 12, 4))
    client.force_login(UserFactory(role="analyst", shops=[shop]))
    client.post("/alerts/mute/", {"metric": "revenue", "segment": "shop"})
    page = client.get("/alerts/").content.decode()
    rows = page.split('<tbody>', 1)[1].split("</tbody>", 1)[0].split("<tr>")[1:]
    revenue = next(r for r in rows if "Revenue" in r)
    refunds = next(r for r in rows if "Refunds" in r)
    assert ">Mute</button>" not in revenue and "muted" in revenue
    assert ">Mute</button>" in refunds


@pytest.mark.django_db
def test_an_alert_reads_in_words_whole_counts_money_with_cents_no_codes(client, shop):
    """browser24 L7: "up: 8.0 against 0.9 expected (score 9.5)" and "country:DE" were jargon to a marketer."""
    _alert(shop, actual=8.0)
    _alert(shop, metric="revenue", segment="shop", direction="down", actual=1234.5, expected=3000, score=-6.2,
           start=dt.date(2026, 12, 4))
    page = _page(client, shop, "marketer")
    assert "Germany" in page and "country:DE" not in page
    assert "score" not in page
    assert "Refunds" in page and "Revenue" in page and "Whole shop" in page
    assert "Above the expected: 8 against 0.9" in page and "8.0" not in page
    assert "about 9 times the usual day-to-day spread" in page
    assert "Below the expected: 1,234.50 EUR against 3,000.00 EUR" in page
