"""Alerts, offers, recent imports and the dashboard's recent jobs on a phone (browser24 M5, L9): every cell on the
screen, none in a hidden sideways scroll."""

from __future__ import annotations

import datetime as dt

import pytest

from accounts.models import Job
from behavior.models import ImportJob
from forecasts.models import Alert
from offers.models import Offer
from tests.accounts.factories import UserFactory
from tests.e2e.conftest import PHONE
from tests.e2e.test_first_hour import _fits

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

# The right edge of the furthest table cell (a cell in a sideways scroll lies past the screen's edge).
WIDEST_CELL = ("return Math.max(0, ...[...document.querySelectorAll('table td')]"
               ".map(td => td.getBoundingClientRect().right))")


@pytest.mark.parametrize("url", ["/alerts/", "/offers/", "/imports/", "/"])
def test_the_pages_tables_keep_every_cell_on_a_phones_screen(browser, live_server, login, shot, shop, url):
    for metric, segment, actual in (("refunds", "country:DE", 26.0), ("revenue", "shop", 1234.5)):
        Alert.objects.create(shop=shop, metric=metric, segment=segment, direction="up", start=dt.date(2026, 12, 5),
                             end=dt.date(2026, 12, 5), expected=0.9, actual=actual, score=9.5)
    Offer.objects.create(shop=shop, external_id="discount_10", name="10 % off the next order", kind="discount_pct",
                         value=10, cost_per_redemption=4, min_spend=50, exclude_ordered_within_days=14)
    ImportJob.objects.create(shop=shop, kind="orders", source_name="shopify-orders-export-2026-12-07.csv",
                             status="succeeded", rows_read=12345, inserted=12000, updated=300, duplicates=45)
    for kind in (Job.Kind.RECOMMEND, Job.Kind.SCORE, Job.Kind.TRAIN, Job.Kind.IMPORT):
        Job.objects.create(shop=shop, kind=kind, status=Job.Status.SUCCEEDED)
    UserFactory(username="ana", role="analyst", shops=[shop])
    browser.set_window_size(*PHONE)
    login("ana")
    browser.get(f"{live_server.url}{url}")
    name = {"/": "dashboard"}.get(url, url.strip("/"))
    shot(f"phone-{name}", PHONE, full=True)
    assert _fits(browser)
    assert browser.execute_script(WIDEST_CELL) <= browser.execute_script(
        "return document.documentElement.clientWidth")
