"""The "Save as segment & export CSV" button in a real browser (browser24 L2): it opens or focuses the name form,
and never hides a form that is already open."""

from __future__ import annotations

import pytest

from tests.accounts.factories import UserFactory
from tests.e2e.conftest import wait_for
from tests.predictions.factories import ScoringRunFactory, scored_customers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


def test_clicking_save_on_a_top_50_list_focuses_the_open_form_instead_of_hiding_it(browser, live_server, login,
                                                                                      shot, shop):
    from selenium.webdriver.common.by import By

    scored_customers(shop, ScoringRunFactory(shop=shop), [{"external_id": "ALICE", "p": 0.83, "buy": 0.1,
                                                           "spend": 120}])
    UserFactory(username="mia", role="marketer", shops=[shop])
    login("mia")
    browser.get(f"{live_server.url}/customers/?band=high&limit=50")
    details = browser.find_element(By.CSS_SELECTOR, "details.save-segment")
    assert details.get_attribute("open") is not None
    browser.find_element(By.CSS_SELECTOR, "details.save-segment summary").click()
    assert details.get_attribute("open") is not None  # it was closed by this click
    wait_for(lambda: browser.switch_to.active_element.get_attribute("name") == "name", "the name field's focus")
    shot("save-segment-after-click")
    # A closed form (no top N) opens on the first click, the cursor in the name field.
    browser.get(f"{live_server.url}/customers/?band=high")
    details = browser.find_element(By.CSS_SELECTOR, "details.save-segment")
    assert details.get_attribute("open") is None
    browser.find_element(By.CSS_SELECTOR, "details.save-segment summary").click()
    assert details.get_attribute("open") is not None
    wait_for(lambda: browser.switch_to.active_element.get_attribute("name") == "name", "the name field's focus")
