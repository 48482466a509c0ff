"""The marketer's first hour, in a real browser at a laptop's width and at a phone's: log in, read the
dashboard, the at-risk list, the likely buyers and a customer, save a segment, plan its offers, export it with
a control group, download the file and open it (issue 18, "Done when").

Every page is saved as a screenshot at the width of the walk (see conftest.py). With README_IMAGES=1 the
README's pictures (docs/img/) are written again from this walk, small."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
from django.conf import settings

from behavior.models import Customer
from predictions.models import CustomerScore, Segment, SegmentExport
from predictions.selectors.segments import segment_member_ids
from recommendations.models import Recommendation, RecommenderVersion
from tests.accounts.factories import UserFactory
from tests.e2e.conftest import PHONE, wait_for
from tests.e2e.test_browser import seed_scores
from tests.predictions.factories import ProductFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

LAPTOP = (1280, 860)
README_IMAGES = {  # screenshot -> its name under docs/img/
    "first-hour-laptop-01-dashboard": "first-hour-dashboard.png",
    "first-hour-phone-02-at-risk": "first-hour-at-risk-phone.png",
    "first-hour-laptop-06-segment-export": "first-hour-segment-export.png",
}


def seed_offers(shop) -> None:
    """What to offer: two recommended products each, and the purchase scores' reasons and expected orders."""
    products = [ProductFactory(shop=shop, title=title, price=price) for title, price in (
        ("Roastery 9 dark roast coffee beans, 1 kg", 18.99), ("Casa Viva ceramic pour-over set", 34.99),
        ("Pure Botanics hydrating face cream", 21.99), ("Green Valley organic green tea", 7.99))]
    version = RecommenderVersion.objects.create(shop=shop, status=RecommenderVersion.Status.ACTIVE)
    scores = list(CustomerScore.objects.filter(shop=shop, task="purchase").order_by("customer_id"))
    Recommendation.objects.bulk_create([
        Recommendation(shop=shop, version=version, customer_id=s.customer_id, rank=rank + 1, score=1.0 - rank / 10,
                       product=products[(i + rank) % len(products)], source="repurchase",
                       reason="buys this about every 30 days")
        for i, s in enumerate(scores) for rank in range(2)])
    for s in scores:
        s.expected_orders = round(2.5 * s.probability, 2)
        s.reasons = ["buys about every 21 days" if s.probability >= 0.3 else "no order for 120 days"]
    CustomerScore.objects.bulk_update(scores, ["expected_orders", "reasons"])


def _fits(browser) -> bool:
    """Nothing on the page is wider than the window: no sideways scrolling."""
    return browser.execute_script(
        "return document.documentElement.scrollWidth <= document.documentElement.clientWidth + 1")


def _readme_image(source: Path, name: str) -> None:
    from PIL import Image

    target = Path(settings.BASE_DIR) / "docs" / "img" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    image = Image.open(source).convert("RGB")
    if image.width > 900:  # small files: the README shows them at most about this wide
        image = image.resize((900, round(image.height * 900 / image.width)), Image.LANCZOS)
    image.quantize(colors=96, method=Image.Quantize.MEDIANCUT).save(target, optimize=True)


@pytest.mark.parametrize("width", ["laptop", "phone"])
def test_first_hour_from_login_to_a_campaign_file(browser, live_server, login, shot, shop, download_dir, width):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    size = LAPTOP if width == "laptop" else PHONE
    prefix = f"first-hour-{width}"
    seed_scores(shop)
    seed_offers(shop)
    UserFactory(username="mia", role="marketer", shops=[shop])
    browser.set_window_size(*size)
    login("mia")
    taken: dict[str, Path] = {}

    def look(step: str, *, full: bool = True) -> None:
        assert "Server Error" not in browser.title
        assert _fits(browser), f"{step} is wider than {size[0]} px"
        name = f"{prefix}-{step}"
        taken[name] = shot(name, size, full=full)

    # 1. The dashboard says what "chance of leaving" means, and compares the lift with its baselines.
    look("01-dashboard")
    body = browser.find_element(By.TAG_NAME, "body").text
    assert f"no order in the next {shop.horizon_days} days" in body
    assert "picking 10 % of customers at random would hold 10 %" in body

    # 2. The at-risk list says whom it covers; on a phone its rows are cards with the reason across the card.
    browser.get(f"{live_server.url}/customers/")
    assert "active customers only" in browser.find_element(By.CLASS_NAME, "coverage-note").text
    look("02-at-risk", full=False)
    look("02-at-risk-full")
    if width == "phone":
        reason = browser.find_element(By.CSS_SELECTOR, ".at-risk-table tbody tr td.reason")
        card = browser.find_element(By.CSS_SELECTOR, ".at-risk-table tbody tr")
        # The main reason spans the card, not a third of it (it read one word a line).
        assert reason.size["width"] > 0.8 * (card.size["width"] - 40)

    # 3. The likely buyers, beside the at-risk list.
    if width == "phone":  # the menu folds away on a phone
        browser.find_element(By.CSS_SELECTOR, ".nav-toggle-label").click()
    browser.find_element(By.LINK_TEXT, "Likely buyers").click()
    wait_for(lambda: "/buyers/" in browser.current_url, "the likely buyers")
    rows = browser.find_elements(By.CSS_SELECTOR, ".buyers-table tbody tr")
    assert [r.find_element(By.CSS_SELECTOR, "td a").text for r in rows][:2] == ["C011", "C010"]  # buy 0.95, 0.88
    assert rows[0].find_element(By.CSS_SELECTOR, "td.offer").text.split("\n")[0] in {
        "Roastery 9 dark roast coffee beans, 1 kg", "Casa Viva ceramic pour-over set",
        "Pure Botanics hydrating face cream", "Green Valley organic green tea"}
    look("03-likely-buyers")

    # 4. A customer.
    browser.get(f"{live_server.url}/customers/?band=high")
    first = browser.find_element(By.CSS_SELECTOR, ".at-risk-table tbody tr td a")
    first_id = first.text
    first.click()
    wait_for(lambda: f"/customers/{first_id}/" in browser.current_url, "the customer page")
    assert "no order in the next" in browser.find_element(By.TAG_NAME, "body").text
    look("04-customer")
    browser.back()
    wait_for(lambda: "band=high" in browser.current_url, "the filtered list again")

    # 5. Save the filter as a segment. Opening the form does not move the button that opened it.
    summary = browser.find_element(By.CSS_SELECTOR, ".save-segment > summary")
    assert not browser.find_element(By.ID, "id_name_cut").is_displayed()
    before = summary.location
    summary.click()
    assert summary.location == before
    name_input = browser.find_element(By.ID, "id_name")
    name_input.send_keys("x" * 205)  # the field keeps 200 characters and says so
    note = browser.find_element(By.CSS_SELECTOR, ".maxlength-note")
    assert len(name_input.get_attribute("value")) == 200
    wait_for(note.is_displayed, "the note that the name was cut")
    assert "200" in note.text
    look("05-save-segment", full=False)
    name_input.clear()
    name_input.send_keys("Win-back high risk")
    assert not note.is_displayed()
    browser.find_element(By.CSS_SELECTOR, ".save-form button[type=submit]").click()
    wait_for(lambda: "/segments/" in browser.current_url and browser.current_url.rstrip("/")[-1].isdigit(),
             "the segment page")
    segment = Segment.objects.get(shop=shop, name="Win-back high risk")
    members = set(Customer.objects.filter(pk__in=segment_member_ids(shop=shop, segment=segment))
                  .values_list("external_id", flat=True))
    assert len(members) == 5

    # 6. Plan its offers (the offers app's planner).
    browser.find_element(By.LINK_TEXT, "Plan offers").click()
    wait_for(lambda: f"/offers/plan/{segment.pk}/" in browser.current_url, "the offers plan")
    look("06-offers-plan")
    browser.back()
    wait_for(lambda: browser.current_url.rstrip("/").endswith(f"/segments/{segment.pk}"), "the segment again")

    # 7. Export with a 20 % control group, download, open the file.
    Select(browser.find_element(By.ID, "id_control")).select_by_value("20")
    look("06-segment-export")
    browser.find_element(By.CSS_SELECTOR, ".export-form button[type=submit]").click()
    path = wait_for(lambda: next((p for p in download_dir.glob("*.csv")), None), "the CSV download")
    wait_for(lambda: not list(download_dir.glob("*.crdownload")), "the download to complete")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        columns, exported = reader.fieldnames, [row for row in reader]
    assert {"customer_id", "churn_probability", "purchase_probability", "risk_band"} <= set(columns)
    export = SegmentExport.objects.get(segment=segment)
    held_back = set(Customer.objects.filter(pk__in=export.control_customer_ids).values_list("external_id", flat=True))
    assert export.control_pct == 20 and len(held_back) == 1  # 20 % of 5
    ids = [row["customer_id"] for row in exported]
    assert len(ids) == len(set(ids)) == len(members) - len(held_back) == export.rows
    assert set(ids) == members - held_back

    # 8. The segments list, as cards on a phone.
    browser.get(f"{live_server.url}/segments/")
    look("07-segments")

    if os.environ.get("README_IMAGES"):
        for source, target in README_IMAGES.items():
            if source in taken:
                _readme_image(taken[source], target)


PAGES = ["/", "/customers/", "/buyers/", "/segments/", "/forecasts/", "/alerts/", "/offers/", "/reviews/",
         "/imports/", "/quality/", "/models/", "/jobs/", "/accounts/tokens/"]


@pytest.mark.parametrize("width", ["laptop", "phone"])
def test_every_page_fits_the_width_without_sideways_scrolling(browser, live_server, login, shot, shop, width):
    size = LAPTOP if width == "laptop" else PHONE
    seed_scores(shop)
    seed_offers(shop)
    UserFactory(username="ana", role="analyst", shops=[shop])
    browser.set_window_size(*size)
    login("ana")
    too_wide = []
    for path in PAGES:
        browser.get(f"{live_server.url}{path}")
        assert "Server Error" not in browser.title, path
        name = "home" if path == "/" else path.strip("/").replace("/", "-")
        shot(f"every-page-{width}-{name}", size, full=True)
        if not _fits(browser):
            too_wide.append(path)
    assert too_wide == []
