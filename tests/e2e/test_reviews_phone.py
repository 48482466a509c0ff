"""The Reviews page on a phone: a marketer's browser review found the review text cut off at the screen's side."""

from __future__ import annotations

import datetime as dt

import pytest

from behavior.models import Review
from tests.accounts.factories import UserFactory
from tests.e2e.conftest import PHONE
from tests.e2e.test_first_hour import _fits

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

LONG = ("Fits perfectly, but the box arrived crushed and the courier left it in the rain for two days before anyone "
        "answered; customer service promised a refund that took three weeks. ") * 2


def test_the_reviews_table_reads_on_a_phone_with_its_text_inside_the_screen(browser, live_server, login, shot, shop):
    now = dt.datetime(2026, 6, 30, tzinfo=dt.UTC)
    Review.objects.bulk_create([
        Review(shop=shop, external_id=f"R{i}", rating=2, text=LONG + "unbreakablewordwithoutanyspaces" * 3,
               sentiment="negative", positive_probability=0.1, aspects=["size_fit", "packaging", "delivery"],
               created_at=now - dt.timedelta(days=i)) for i in range(3)])
    UserFactory(username="mia", role="marketer", shops=[shop])
    browser.set_window_size(*PHONE)
    login("mia")
    browser.get(f"{live_server.url}/reviews/")
    shot("reviews-phone-full", PHONE, full=True)
    assert _fits(browser)
    width = browser.execute_script("return document.documentElement.clientWidth")
    right = browser.execute_script("return Math.max(...[...document.querySelectorAll('#review-list td')]"
                                   ".map(td => td.getBoundingClientRect().right))")
    assert right <= width
    # Every table of the page, the months' too, keeps its cells on the screen (they were cut off at 390 px).
    widest = browser.execute_script("return Math.max(...[...document.querySelectorAll('table td')]"
                                    ".map(td => td.getBoundingClientRect().right))")
    assert widest <= width
    assert "Jun 2026" in browser.page_source  # months read like the app's other dates, not 2026-06
