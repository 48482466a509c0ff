"""The at-risk list's Save or win back filter and Lapsed badge on a phone: the badge is in the customer's card, on the
screen, and the filter keeps the list to the customers it names."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from tests.accounts.factories import UserFactory
from tests.e2e.conftest import PHONE
from tests.e2e.test_first_hour import _fits
from tests.predictions.factories import ScoringRunFactory, scored_customers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


def test_a_lapsed_customer_is_marked_in_their_card_and_the_filter_keeps_them(browser, live_server, login, shot, shop):
    run = ScoringRunFactory(shop=shop)
    scored_customers(shop, run, [
        {"external_id": "GONE", "p": 0.95, "buy": 0.05, "spend": 900, "lapsed": True,
         "reasons": ["no order for 124 days; usually every 30"]},
        {"external_id": "LATE", "p": 0.7, "buy": 0.3, "spend": 400,
         "reasons": ["no order for 50 days; usually every 30"]},
    ])
    UserFactory(username="mia", role="marketer", shops=[shop])
    browser.set_window_size(*PHONE)
    login("mia")
    browser.get(f"{live_server.url}/customers/")
    badges = browser.find_elements(By.CSS_SELECTOR, ".badge-lapsed")
    assert len(badges) == 1 and badges[0].is_displayed() and badges[0].text == "Lapsed"
    assert badges[0].rect["x"] + badges[0].rect["width"] <= browser.execute_script(
        "return document.documentElement.clientWidth")
    assert _fits(browser)
    browser.get(f"{live_server.url}/customers/?lapsed=true")
    shot("phone-at-risk-lapsed", PHONE, full=True)
    page = browser.page_source
    assert "GONE" in page and "LATE" not in page
    chosen = browser.find_element(By.CSS_SELECTOR, "#f-lapsed option:checked")
    assert chosen.text == "Already lapsed (win back)"
    # The chosen words fit the select beside its arrow (in half a row it read "Already lapsec": a new user's review).
    assert browser.execute_script(
        "const s = document.getElementById('f-lapsed'); const c = document.createElement('canvas').getContext('2d');"
        "c.font = getComputedStyle(s).font;"
        "return c.measureText(s.options[s.selectedIndex].text).width + 32 <= s.clientWidth;")
    browser.get(f"{live_server.url}/customers/?lapsed=false")
    assert "LATE" in browser.page_source and not browser.find_elements(By.CSS_SELECTOR, ".badge-lapsed")


def test_likely_buyers_and_the_customer_page_show_the_mark_on_a_phone(browser, live_server, login, shop):
    run = ScoringRunFactory(shop=shop)
    scored_customers(shop, run, [
        {"external_id": "GONE", "p": 0.95, "buy": 0.05, "spend": 900, "lapsed": True},
        {"external_id": "LATE", "p": 0.7, "buy": 0.3, "spend": 400},
    ])
    UserFactory(username="mia", role="marketer", shops=[shop])
    browser.set_window_size(*PHONE)
    login("mia")
    width = browser.execute_script("return document.documentElement.clientWidth")
    for path in ("/buyers/", "/customers/GONE/"):
        browser.get(f"{live_server.url}{path}")
        badges = browser.find_elements(By.CSS_SELECTOR, ".badge-lapsed")
        assert len(badges) == 1 and badges[0].is_displayed() and badges[0].text == "Lapsed", path
        assert badges[0].rect["x"] + badges[0].rect["width"] <= width, path
        assert _fits(browser), path
    card = browser.find_element(By.CSS_SELECTOR, ".lapsed-note")
    assert "Already lapsed — a win-back customer" in card.text
    browser.get(f"{live_server.url}/buyers/")
    row = browser.find_element(By.CSS_SELECTOR, ".buyers-table.rows-as-cards tbody tr .badge-lapsed")
    assert row.find_element(By.XPATH, "ancestor::tr").find_element(By.CSS_SELECTOR, "a").text == "GONE"
