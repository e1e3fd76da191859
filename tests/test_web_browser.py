"""`shelfgraph serve` in a real headless Chromium (Selenium, Debian's chromium and
chromium-driver; `make test` installs them where it can): a baseline build of 10 demo
products plus one hostile product, served by a `shelfgraph serve` process on a free port.

Set SHELFGRAPH_SCREENSHOTS=docs/screenshots to save the pages the tests see (the README's
screenshots come from this).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"
HOSTILE_ID = "evil-1"
HOSTILE_TITLE = "<script>alert(1)</script><img src=x onerror=alert(2)> Evil Roast Coffee & Co"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1280,900")


def _browser() -> tuple[str, str]:
    pytest.importorskip("selenium", reason="selenium is not installed (pip install -e '.[dev]')")
    browser = next((found for name in BROWSERS if (found := shutil.which(name))), None)
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.skip("no headless browser: install Debian's chromium and chromium-driver "
                    "(`apt-get install chromium chromium-driver`, or `make test` as root)")
    return browser, driver


def _cli(env: dict[str, str], *args: object) -> None:
    result = subprocess.run([sys.executable, "-m", "shelfgraph", *map(str, args)], env=env, capture_output=True,
                            text=True, timeout=1800)
    assert result.returncode == 0, result.stderr[-3000:]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_up(url: str, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            error = process.stderr.read() if process.stderr else ""
            raise AssertionError(f"serve exited with {process.returncode}: {error}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"serve did not answer at {url} within {seconds} s")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo graph built by the baseline steps, one hostile product ingested, two eval runs,
    served with --allow-review by a real `shelfgraph serve` process."""
    _browser()  # skip before spending minutes on a build no browser will look at
    folder = tmp_path_factory.mktemp("serve")
    env = {**os.environ, "SHELFGRAPH_HOME": str(folder / "home")}
    store = folder / "demo.db"
    _cli(env, "build", DEMO / "catalog.jsonl", "--taxonomy", DEMO / "taxonomy", "--labelled",
         DEMO / "labelled.jsonl", "--method", "baseline", "--limit", "10", "--store", store, "--quiet")
    hostile = folder / "hostile.jsonl"
    hostile.write_text(json.dumps({"id": HOSTILE_ID, "title": HOSTILE_TITLE, "product_type": "Coffee",
                                   "attributes": {"Brand": ["Evil Roast"]}}) + "\n", encoding="utf-8")
    _cli(env, "ingest", hostile, "--store", store)
    runs = _eval_runs(folder / "runs")
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "shelfgraph", "serve", "--store", str(store), "--port", str(port), "--allow-review",
         "--no-llm", "--reviewer", "browser-test", "--runs-dir", str(runs)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url + "/", process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def _eval_runs(runs: Path) -> Path:
    """Two small extraction runs to compare (the eval pages read run folders, not the store)."""
    from shelfgraph.eval.runs import save_run

    gold = {"Brand": ["Folgers"], "Roast type": ["Dark"]}
    rows = [{"id": f"t{i}", "category": "Coffee", "title": f"Folgers Dark Roast {i}", "gold": gold,
             "pred": {"Brand": "Folgers", "Roast type": "Dark" if i % 3 else "Roast"},
             "outcomes": {"Brand": "VC" if i % 4 else "VW", "Roast type": "VC" if i % 3 else "VW"},
             "spans": {"Brand": {"confidence": (i % 10) / 10}, "Roast type": {"confidence": (i % 7) / 7}}}
            for i in range(40)]
    better = [{**r, "outcomes": {"Brand": "VC", "Roast type": r["outcomes"]["Roast type"]}} for r in rows]
    save_run(runs, "extraction", {"method": "baseline"}, {"precision": 70.0, "recall": 70.0, "f1": 70.0}, rows)
    save_run(runs, "extraction", {"method": "hybrid"}, {"precision": 83.8, "recall": 83.8, "f1": 83.8}, better)
    return runs


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = _browser()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (*FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.implicitly_wait(5)
    try:
        yield driver
    finally:
        driver.quit()


def shoot(driver, name: str) -> None:
    """Save what the browser shows as docs' screenshots, when SHELFGRAPH_SCREENSHOTS names a folder."""
    folder = os.environ.get("SHELFGRAPH_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1280, min(max(height, 700), 1800))
        driver.save_screenshot(str(Path(folder) / f"{name}.png"))
        driver.set_window_size(1280, 900)


def follow(driver, element, submit: bool = False) -> None:
    """Click a link or button (or submit a form) and wait until the next page has replaced this
    one: a WebDriver click may return before the navigation it started, so reading the URL at
    once can still see the old page."""
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    old_page = driver.find_element("tag name", "html")
    element.submit() if submit else element.click()
    wait = WebDriverWait(driver, 30)
    wait.until(expected_conditions.staleness_of(old_page))
    wait.until(lambda d: d.execute_script("return document.readyState") == "complete")


def test_open_a_product_and_see_its_evidence_highlighted(server: str, browser):
    from selenium.webdriver.common.by import By

    browser.get(server + "/")
    shoot(browser, "overview")
    search = browser.find_element(By.CSS_SELECTOR, "header input[name=q]")
    search.send_keys("Door County")
    follow(browser, search, submit=True)
    follow(browser, browser.find_element(By.CSS_SELECTOR, "#results a.product"))
    assert urlsplit(browser.current_url).path == "/products/demo-021"
    title = browser.find_element(By.TAG_NAME, "h1").text
    marked = []
    for row in browser.find_elements(By.CSS_SELECTOR, "tr.fact"):
        marks = row.find_elements(By.CSS_SELECTOR, ".evidence mark")
        if marks and marks[0].is_displayed():
            value = row.find_elements(By.TAG_NAME, "td")[1].text
            marked.append((value, marks[0].text))
    imputed = [(v, m) for v, m in marked if v == m]
    assert len(imputed) >= 3, marked  # every extracted value is the span marked in its text
    assert all(m in title for _, m in marked)
    colour = browser.find_element(By.CSS_SELECTOR, ".evidence mark").value_of_css_property("background-color")
    assert colour in ("rgba(255, 230, 128, 1)", "rgb(255, 230, 128)")
    shoot(browser, "product")


def test_ask_a_question_and_follow_a_cited_fact(server: str, browser):
    from selenium.webdriver.common.by import By

    browser.get(server + "/ask")
    box = browser.find_element(By.CSS_SELECTOR, "form.ask input[name=q]")
    box.send_keys("Which coffees have the brand Door County Coffee?")
    follow(browser, box, submit=True)
    assert "1 product(s) match" in browser.find_element(By.CSS_SELECTOR, "#answer").text
    shoot(browser, "ask")
    cite = next(a for a in browser.find_elements(By.CSS_SELECTOR, "a.cite")
                if "Door County Coffee" in a.find_element(By.XPATH, "..").text)
    fact_id = cite.get_attribute("title")
    follow(browser, cite)
    where = urlsplit(browser.current_url)
    assert where.path == "/products/demo-021" and where.fragment == "fact-" + fact_id.removeprefix("sha256:")
    row = browser.find_element(By.ID, where.fragment)
    assert row.get_attribute("data-fact-id") == fact_id and row.is_displayed()
    assert "Door County Coffee" in row.text and row.find_element(By.CSS_SELECTOR, "mark").text == "Door County Coffee"


def test_accept_a_fact_in_review_and_see_its_status_change(server: str, browser):
    from selenium.webdriver.common.by import By

    browser.get(server + "/review")
    shoot(browser, "review")
    row = browser.find_element(By.CSS_SELECTOR, "#queue tr.fact.rejected")  # flagged by cleaning
    fact_id = row.get_attribute("data-fact-id")
    assert row.find_element(By.CSS_SELECTOR, ".status").text == "rejected"
    follow(browser, row.find_element(By.CSS_SELECTOR, "button[value=accept]"))
    assert browser.find_element(By.ID, "done").text.startswith("Done: accept")
    assert fact_id not in browser.page_source  # decided: out of the queue
    follow(browser, browser.find_element(By.CSS_SELECTOR, "#done a"))
    fact_row = browser.find_element(By.ID, "fact-" + fact_id.removeprefix("sha256:"))
    assert fact_row.find_element(By.CSS_SELECTOR, ".status").text == "active"
    history = fact_row.find_element(By.CSS_SELECTOR, "ul.history").get_attribute("textContent")
    assert "review: accepted by browser-test" in history


def test_a_hostile_title_renders_as_text(server: str, browser):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    browser.get(f"{server}/products/{quote(HOSTILE_ID)}")
    assert browser.find_element(By.TAG_NAME, "h1").text == HOSTILE_TITLE
    assert browser.find_elements(By.TAG_NAME, "script") == []
    assert browser.find_elements(By.CSS_SELECTOR, "main img") == []
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018 - reading it is the check
    browser.get(f"{server}/products?q=Evil")
    assert HOSTILE_TITLE in browser.find_element(By.ID, "results").text


def test_taxonomy_and_eval_pages_in_the_browser(server: str, browser):
    from selenium.webdriver.common.by import By

    browser.get(server + "/taxonomy")
    follow(browser, browser.find_element(By.LINK_TEXT, "Food, Beverages & Tobacco"))
    assert "Beverages" in browser.find_element(By.ID, "tree").text
    shoot(browser, "taxonomy")
    browser.get(server + "/eval")
    follow(browser, browser.find_element(By.CSS_SELECTOR, "#eval-runs ~ button"))
    assert urlsplit(browser.current_url).path == "/eval/compare"
    assert browser.find_elements(By.CSS_SELECTOR, "figure.chart polyline")
    assert "Roast type" in browser.find_element(By.ID, "attribute-compare").text
    shoot(browser, "eval-compare")
