"""Browser tests in real headless Chromium (Debian's chromium and chromium-driver; nothing is downloaded).

Each test gets its own browser with its own profile and download folder. `shot` saves a PNG of the page
under SCREENSHOT_DIR (default var/test-screenshots/) so that the pages can be looked at after a run.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings

# The simulated shop trained and scored (the fixture `run`), as the re-scoring tests use it: test_fresh_scores.py.
from tests.predictions.test_rescoring import run  # noqa: F401

CHROMIUM = os.environ.get("CHROMIUM_BINARY", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BINARY", "/usr/bin/chromedriver")
DESKTOP = (1366, 900)
PHONE = (390, 844)
FULL_PAGE_MAX_HEIGHT = 6000  # px; a longer page is cut there
PASSWORD = "correct-horse-battery"  # tests.accounts.factories.UserFactory's password


def _missing() -> str | None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            return f"{path} is not installed (apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed"
    return None


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    folder = Path(os.environ.get("SCREENSHOT_DIR") or Path(settings.BASE_DIR) / "var" / "test-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def download_dir(tmp_path) -> Path:
    folder = tmp_path / "downloads"
    folder.mkdir()
    return folder


@pytest.fixture
def browser(tmp_path, download_dir):
    reason = _missing()
    if reason:
        pytest.skip(f"browser tests need Chromium: {reason}")
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}",
                 f"--window-size={DESKTOP[0]},{DESKTOP[1]}"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {
        "download.default_directory": str(download_dir), "download.prompt_for_download": False,
        "download.directory_upgrade": True, "safebrowsing.enabled": False,
    })
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(tmp_path / "profile", ignore_errors=True)


@pytest.fixture
def shot(browser, screenshot_dir) -> Callable[[str], Path]:
    """Save the current page as <name>.png at the desktop size (or `size`), then restore the window's size.

    `full=True` grows the window to the page's whole height first, so what lies below the fold is seen too."""

    def save(name: str, size: tuple[int, int] = DESKTOP, *, full: bool = False) -> Path:
        before = browser.get_window_size()
        before = (before["width"], before["height"])
        browser.set_window_size(*size)
        time.sleep(0.15)  # let the layout settle after a resize
        if full:
            # A headless window cannot grow past its screen, so the viewport is emulated instead.
            width, height = browser.execute_script(
                "return [document.documentElement.clientWidth, document.documentElement.scrollHeight]")
            browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                "width": int(width), "height": min(max(int(height), size[1]), FULL_PAGE_MAX_HEIGHT),
                "deviceScaleFactor": 1, "mobile": False})
            time.sleep(0.15)
        path = screenshot_dir / f"{name}.png"
        browser.save_screenshot(str(path))
        if full:
            browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        if size != before:
            browser.set_window_size(*before)
        return path

    return save


@pytest.fixture
def login(browser, live_server) -> Callable[[str], None]:
    """Log in through the login page, as a person would."""
    from selenium.webdriver.common.by import By

    def log_in(username: str) -> None:
        browser.get(f"{live_server.url}/accounts/login/")
        browser.find_element(By.NAME, "username").send_keys(username)
        browser.find_element(By.NAME, "password").send_keys(PASSWORD)
        browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        wait_for(lambda: "/accounts/login/" not in browser.current_url, "the login to finish")

    return log_in


def _replaced_meanwhile(exc: Exception) -> bool:
    # The page reloaded between finding an element and reading it (poll.js reloads a page once its work is
    # done): Chrome says so as a stale element, or, mid-navigation, as an inspector error; and while the new
    # page is still loading, the element is not there yet (CI failed once on "no such element: job-status").
    from selenium.common.exceptions import (
        NoSuchElementException,
        StaleElementReferenceException,
        WebDriverException,
    )

    return isinstance(exc, StaleElementReferenceException | NoSuchElementException) or (
        isinstance(exc, WebDriverException) and "does not belong to the document" in str(exc))


def wait_for(condition: Callable[[], object], what: str, *, timeout: float = 15.0):
    """Poll `condition` until it is truthy; fail saying what never happened. A page replaced while the
    condition read it, or an element not there yet, counts as not yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except Exception as exc:
            if not _replaced_meanwhile(exc):
                raise
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
