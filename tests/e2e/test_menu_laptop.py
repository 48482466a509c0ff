"""The top menu at a common laptop width (1366 × 768): one line for every role, the rarer pages under "More".

A browser review found the menu wrapping onto a second line at 1366 px (15 links for an admin): the second
line pushed every page down and read as two menus."""

from __future__ import annotations

import pytest

from tests.accounts.factories import ShopFactory, UserFactory
from tests.e2e.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

LAPTOP_1366 = (1366, 768)

# Every box of the top bar: its vertical centre. One line = every centre within a few pixels of the brand's.
_CENTRES = """
const boxes = [document.querySelector('.brand'), ...document.querySelectorAll('.nav > ul > li'),
               document.querySelector('.topbar-tools')];
return boxes.filter(b => b && b.offsetParent !== null).map(b => {
  const r = b.getBoundingClientRect();
  return [b.textContent.trim().split(/\\s+/).slice(0, 3).join(' '), Math.round(r.top + r.height / 2)];
});
"""


@pytest.mark.parametrize("role", ["marketer", "analyst", "admin"])
def test_the_top_menu_stays_on_one_line_at_1366_px_for_every_role(browser, live_server, login, shot, shop, role):
    from selenium.webdriver.common.by import By

    # An admin of two shops also gets the shop switch: the widest bar there is.
    UserFactory(username=f"the-{role}", role=role, shops=[shop] + ([ShopFactory()] if role == "admin" else []))
    browser.set_window_size(*LAPTOP_1366)
    login(f"the-{role}")
    browser.get(f"{live_server.url}/segments/")
    centres = browser.execute_script(_CENTRES)
    shot(f"menu-1366-{role}", LAPTOP_1366)
    brand = centres[0][1]
    assert all(abs(c - brand) <= 4 for _, c in centres), f"the menu wraps at 1366 px: {centres}"
    assert browser.execute_script(
        "return document.documentElement.scrollWidth <= document.documentElement.clientWidth + 1")

    # Every page the role may open is still one or two clicks away: the rarer ones under "More".
    more = browser.find_elements(By.CSS_SELECTOR, ".nav-more > summary")
    expected = {"marketer": ["API tokens"], "analyst": ["Imports", "Data quality", "Models", "Jobs", "API tokens"],
                "admin": ["Imports", "Data quality", "Models", "Jobs", "API tokens", "Admin"]}[role]
    assert len(more) == 1 and more[0].text.startswith("More")
    assert not any(a.is_displayed() for a in browser.find_elements(By.CSS_SELECTOR, ".nav-more a"))
    more[0].click()
    shot(f"menu-1366-{role}-more", LAPTOP_1366)
    assert [a.text for a in browser.find_elements(By.CSS_SELECTOR, ".nav-more a")] == expected
    browser.find_element(By.LINK_TEXT, expected[0]).click()
    wait_for(lambda: "/segments/" not in browser.current_url, "the page under More")
    # The page opened from "More" marks "More" as where one is.
    assert "active" in browser.find_element(By.CSS_SELECTOR, ".nav-more > summary").get_attribute("class")
