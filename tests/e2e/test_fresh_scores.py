"""Fresh scores, in a real browser (issue 18 §1, "Done when"): an order pushed through the API for a high-risk
customer marks their score wherever it shows and keeps them out of the next campaign file; once the worker has
re-scored them, the mark is gone, their score is newer and their chance of leaving is no higher.

The shop is the small simulated one, trained (BG/NBD against LightGBM) and scored as the re-scoring tests do, so
the re-scoring runs real models.
The post reaches the live server over HTTP; its re-scoring task is enqueued for real (to Redis, with the
debounce countdown) and then run the way the worker runs it. Screenshots at each step (see conftest.py)."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from pathlib import Path

import pytest
import requests

from accounts.tokens import api_token_create
from behavior.models import Customer
from ecomsight.celery import app as celery_app
from predictions.models import CustomerScore
from predictions.services.rescoring import rescore_pending_count
from predictions.tasks import rescore_changed_task
from tests.accounts.factories import UserFactory
from tests.e2e.conftest import PHONE, wait_for
from tests.e2e.test_first_hour import LAPTOP, _fits

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e, pytest.mark.slow]


def _churn(customer_id: int) -> CustomerScore:
    return CustomerScore.objects.get(customer_id=customer_id, task="churn")


def _download(browser, download_dir: Path, before: set[Path]) -> tuple[Path, set[str]]:
    """Click the segment page's Download button; the new CSV file and the customer ids in it."""
    from selenium.webdriver.common.by import By

    browser.find_element(By.CSS_SELECTOR, ".export-form button[type=submit]").click()
    path = wait_for(lambda: next((p for p in download_dir.glob("*.csv") if p not in before), None), "the CSV download")
    wait_for(lambda: not list(download_dir.glob("*.crdownload")), "the download to complete")
    with open(path, newline="", encoding="utf-8-sig") as f:
        return path, {row["customer_id"] for row in csv.DictReader(f)}


def _chance_of_leaving(browser) -> int:
    """The customer page's chance of leaving, in percent as shown ("<1 %" reads 0, ">99 %" 100)."""
    from selenium.webdriver.common.by import By

    text = browser.find_element(By.CSS_SELECTOR, ".card .stat-value").text
    value = int(re.match(r"[<>]?(\d+) %", text).group(1))
    return value - 1 if text.startswith("<") else value + 1 if text.startswith(">") else value


def _button_count(browser) -> int:
    from selenium.webdriver.common.by import By

    # "Download CSV (12 customers)"
    text = browser.find_element(By.CSS_SELECTOR, ".export-form button[type=submit]").text
    found = re.search(r"\(([\d,]+) customer", text)
    assert found, text
    return int(found.group(1).replace(",", ""))


@pytest.mark.parametrize("width", ["laptop", "phone"])
def test_an_order_through_the_api_marks_the_customer_until_they_are_rescored(
        browser, live_server, login, shot, run, download_dir, width):
    from selenium.webdriver.common.by import By

    shop = run.shop
    size = LAPTOP if width == "laptop" else PHONE
    UserFactory(username="mia", role="marketer", shops=[shop])
    integration = UserFactory(username="shop-feed", role="analyst", shops=[shop])
    token = api_token_create(user=integration, shop=shop, name="order feed").plain
    browser.set_window_size(*size)
    login("mia")

    def look(step: str) -> str:
        assert "Server Error" not in browser.title
        assert _fits(browser), f"{step} is wider than {size[0]} px"
        shot(f"fresh-scores-{width}-{step}", size, full=True)
        return browser.find_element(By.TAG_NAME, "body").text

    # 1. The at-risk list, high risk: nobody is marked yet. Save it as a segment, as a marketer does.
    browser.get(f"{live_server.url}/customers/?band=high")
    rows = browser.find_elements(By.CSS_SELECTOR, ".at-risk-table tbody tr")
    assert len(rows) >= 3
    assert not browser.find_elements(By.CSS_SELECTOR, ".at-risk-table .stale-score")
    external_id = rows[0].find_element(By.CSS_SELECTOR, "td a").text
    customer = Customer.objects.get(shop=shop, external_id=external_id)
    before = _churn(customer.pk)
    assert before.risk_band == "high"
    look("01-at-risk")
    browser.find_element(By.CSS_SELECTOR, ".save-segment > summary").click()
    browser.find_element(By.ID, "id_name").send_keys("High risk, fresh")
    browser.find_element(By.CSS_SELECTOR, ".save-form button[type=submit]").click()
    wait_for(lambda: re.search(r"/segments/\d+/?$", browser.current_url), "the segment page")
    segment_url = browser.current_url
    assert not browser.find_elements(By.NAME, "include_ordered_since_scoring")  # nobody to include yet
    members = _button_count(browser)

    # 2. Their page: no warning yet.
    browser.get(f"{live_server.url}/customers/{external_id}/")
    assert not browser.find_elements(By.CSS_SELECTOR, ".stale-score")
    chance_before = _chance_of_leaving(browser)
    assert f"from their data up to {run.as_of:%-d %b %Y}." in browser.find_element(By.CSS_SELECTOR, ".score-time").text
    look("02-customer")

    # 3. The shop's feed posts an order for them, the day after the scores' data end. The post schedules the
    # re-scoring for RESCORE_DEBOUNCE_SECONDS later: enqueued to the broker for real, where no worker runs here.
    placed = run.as_of + dt.timedelta(days=1)
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    try:
        with celery_app.connection_for_write() as conn:
            redis = conn.default_channel.client
            redis.delete("ml")
            response = requests.post(
                f"{live_server.url}/api/v1/orders/batch/", headers={"Authorization": f"Bearer {token}"},
                json=[{"order_id": "FRESH-1", "customer_id": external_id, "placed_at": placed.isoformat(),
                       "total": 80.0}], timeout=30)
            assert response.status_code == 200 and response.json()["stored"] == 1, response.text[:300]
            tasks = [json.loads(m)["headers"]["task"] for m in redis.lrange("ml", 0, -1)]
            redis.delete("ml")
            # the debounced re-scoring task, waiting for its countdown (beside the shop's anomaly check)
            assert tasks.count("predictions.tasks.rescore_changed_task") == 1
    finally:
        celery_app.conf.task_always_eager = eager
    assert rescore_pending_count(shop_id=shop.pk) == 1

    # 4. Reloaded, their page warns that the scores predate the order; the list marks their row.
    browser.refresh()
    warning = browser.find_element(By.CSS_SELECTOR, ".message.stale-score").text
    assert f"Their order of {placed:%-d %b %Y} is newer than these scores" in warning
    assert f"their data up to {run.as_of:%-d %b %Y}" in warning and "left out of campaign files" in warning
    look("03-customer-ordered-since-scoring")
    browser.get(f"{live_server.url}/customers/?band=high")
    marked = browser.find_elements(By.CSS_SELECTOR, ".at-risk-table tbody tr .badge.stale-score")
    assert [m.text for m in marked] == ["Ordered since scoring"]
    row = marked[0].find_element(By.XPATH, "./ancestor::tr")
    assert row.find_element(By.CSS_SELECTOR, "td a").text == external_id
    cell = marked[0].find_element(By.XPATH, "./ancestor::td")  # the mark stays inside its cell (a phone's card)
    assert marked[0].location["x"] + marked[0].size["width"] <= cell.location["x"] + cell.size["width"] + 1
    look("04-at-risk-ordered-since-scoring")

    # 5. The segment page says one member ordered since their score and is left out by default; the file the
    # browser downloads does not hold them, and holds everyone else.
    browser.get(segment_url)
    body = look("05-segment-left-out")
    assert "Include the 1 customer who ordered since their score" in body and "Left out by default" in body
    assert not browser.find_element(By.NAME, "include_ordered_since_scoring").is_selected()
    assert _button_count(browser) == members - 1
    first_file, ids = _download(browser, download_dir, set())
    assert external_id not in ids and len(ids) == members - 1

    # 6. The worker's turn: the task the post enqueued runs (eager here), and re-scores them into the current run.
    rescore_changed_task.delay(shop.pk)
    assert rescore_pending_count(shop_id=shop.pk) == 0
    after = _churn(customer.pk)
    assert after.scoring_run_id == run.pk and after.scored_at > before.scored_at
    assert after.probability <= before.probability  # an order today: no more likely to leave

    # 7. Reloaded: no warning, a newer score, and a chance of leaving no higher than before.
    browser.get(f"{live_server.url}/customers/{external_id}/")
    assert not browser.find_elements(By.CSS_SELECTOR, ".stale-score")
    scored = browser.find_element(By.CSS_SELECTOR, ".score-time").text
    assert f"Scored {after.scored_at:%-d %b %Y, %H:%M} UTC, from their data up to {placed:%-d %b %Y}" in scored
    assert _chance_of_leaving(browser) <= chance_before
    look("06-customer-rescored")
    browser.get(f"{live_server.url}/customers/?band=high")
    assert not browser.find_elements(By.CSS_SELECTOR, ".at-risk-table .stale-score")

    # 8. The next export holds them again, if they are still in the segment.
    browser.get(segment_url)
    assert not browser.find_elements(By.NAME, "include_ordered_since_scoring")
    look("07-segment-rescored")
    still_high = after.risk_band == "high"
    assert _button_count(browser) == members - (0 if still_high else 1)
    _, ids = _download(browser, download_dir, {first_file})
    assert (external_id in ids) == still_high
