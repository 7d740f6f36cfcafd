"""The Dash app in a real browser: Debian's headless Chromium driven by Selenium.

The app serves a store of real runs (``tests/_app_store.py``) from a thread on 127.0.0.1 and a
free port; every page is loaded, its figures and key figures checked against the runs'
datasets, and a screenshot saved (``$GRIDOPT_SCREENSHOTS`` or a pytest temporary folder).
Needs ``/usr/bin/chromium`` and ``/usr/bin/chromedriver`` (Debian: chromium chromium-driver).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from gridopt.app import create_app
from gridopt.app.layout import OVERVIEW_CARDS, PAGES, fmt

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WAIT_S = 30

# Figures each page draws for the default run (AC check, no branch topology in results).
FIGURES = {"overview": 1, "carbon": 4, "air-quality": 0, "ev-storage": 2, "network": 1,
           "compare": 1, "runs": 0, "export": 0}

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")


@pytest.fixture(scope="module")
def base_url(runs):
    server = make_server("127.0.0.1", 0, create_app(runs[0]).server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def downloads(tmp_path_factory):
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(tmp_path_factory, downloads):
    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage", "--window-size=1400,1800",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT_S)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    folder = os.environ.get("GRIDOPT_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        return Path(folder)
    return tmp_path_factory.mktemp("screenshots")


def load(driver, url: str, figures: int, expect: str) -> str:
    """Open ``url``, wait until ``expect`` is in the page body and ``figures`` plots have
    drawn data, and return the page text."""
    driver.get(url)

    def ready(d):
        body = d.find_element(By.ID, "page").text
        drawn = d.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .plot-container .main-svg")
        return expect in body and len(d.find_elements(By.CSS_SELECTOR, ".js-plotly-plot")) >= figures \
            and len(drawn) >= figures

    WebDriverWait(driver, WAIT_S).until(ready)
    return driver.find_element(By.TAG_NAME, "body").text


def traces_with_points(driver) -> int:
    """How many traces across the page's plotly figures hold at least one data point."""
    return driver.execute_script("""
        let n = 0;
        for (const el of document.querySelectorAll('.js-plotly-plot')) {
            for (const t of (el._fullData || [])) {
                const ys = t.y || t.x || [];
                if (t.visible !== false && ys.length > 0) n += 1;
            }
        }
        return n;""")


def test_every_page_of_a_run(browser, base_url, runs, shots):
    store, ids = runs
    run, other = ids["default"], ids["caltech"]
    ds = store.open(run)
    for page in PAGES:
        url = f"{base_url}/{page}?run={run}&other={other}"
        text = load(browser, url, FIGURES[page], "Runs in" if page == "runs" else run)
        browser.save_screenshot(str(shots / f"{page}.png"))
        assert "Traceback" not in browser.page_source
        assert traces_with_points(browser) >= FIGURES[page], page
        if page == "overview":
            for _, key, _ in OVERVIEW_CARDS:
                assert fmt(ds.attrs[f"kpi_{key}"] * (100 if key == "renewable_share" else 1)) in text
        if page == "air-quality":
            assert "Air quality is not in this run" in text
        if page == "network":
            assert f"AC limit violations: {int(ds.attrs['kpi_ac_violations'])}" in text
        if page == "compare":
            assert fmt(ds.attrs["kpi_co2_marginal_t"]) in text and other in text
        if page == "runs":
            assert all(run_id in text for run_id in ids.values())
        if page == "export":
            assert "gen_p_mw" in text and "Download CSV" in text


def test_air_quality_and_dc_run(browser, base_url, runs, shots):
    store, ids = runs
    aqi = store.open(ids["beijing"])["aqi_china"]
    text = load(browser, f"{base_url}/air-quality?run={ids['beijing']}", 2, "China AQI")
    browser.save_screenshot(str(shots / "air-quality-beijing.png"))
    for station in aqi["station"].values:
        assert str(station) in text
    assert "Excellent" in text or "Good" in text  # category bands are labelled
    text = load(browser, f"{base_url}/network?run={ids['caltech']}", 0, "Bus voltages are not in this run")
    assert not browser.find_elements(By.CSS_SELECTOR, ".js-plotly-plot")


@pytest.mark.parametrize("role, expected", [
    ("corrupt", "results file is missing or unreadable"),
    ("missing", "results file is missing"),
])
def test_damaged_runs_show_a_message(browser, base_url, runs, role, expected):
    run_id = runs[1][role]
    for page in ("overview", "carbon", "network", "export"):
        text = load(browser, f"{base_url}/{page}?run={run_id}", 0, expected)
        assert run_id in text and "Traceback" not in browser.page_source


@pytest.mark.parametrize("run_id, expected", [
    ("../x", "run id must be 1-80 characters"),
    ("..%2F..%2Fetc", "run id must be 1-80 characters"),
    ("no-such-run", "is not in the store"),
])
def test_invalid_run_ids_are_refused(browser, base_url, run_id, expected):
    text = load(browser, f"{base_url}/overview?run={run_id}", 0, expected)
    assert "Traceback" not in browser.page_source and "CO2 avoided" not in text


def test_navigation_keeps_the_run_and_the_catalog_filters(browser, base_url, runs):
    ids = runs[1]
    load(browser, f"{base_url}/overview?run={ids['beijing']}", 1, ids["beijing"])
    browser.find_element(By.ID, "nav-carbon").click()
    load(browser, browser.current_url, 4, "Carbon")
    assert browser.current_url.endswith(f"/carbon?run={ids['beijing']}")
    load(browser, f"{base_url}/runs", 0, "Runs in")
    box = browser.find_element(By.CSS_SELECTOR, "#runs-table th[data-dash-column='model'] input")
    box.send_keys("caltech\n")
    WebDriverWait(browser, WAIT_S).until(
        lambda d: ids["default"] not in d.find_element(By.ID, "runs-table").text)
    table = browser.find_element(By.ID, "runs-table").text
    assert ids["caltech"] in table and ids["beijing"] not in table
    load(browser, f"{base_url}/runs", 0, "Runs in")
    table = browser.find_element(By.ID, "runs-table").text
    assert "results file is not a NetCDF file" in table and "results file is missing" in table


def test_picking_a_second_run_compares_them(browser, base_url, runs):
    ids = runs[1]
    load(browser, f"{base_url}/compare?run={ids['default']}", 0, "Choose a second run")
    browser.find_element(By.ID, "other").click()
    browser.switch_to.active_element.send_keys(ids["beijing"])  # the dropdown's search box
    label = f"//*[@id='other-box']//span[contains(text(), '{ids['beijing']}')]"
    WebDriverWait(browser, WAIT_S).until(lambda d: [
        e for e in d.find_elements(By.XPATH, label) if e.is_displayed()])[-1].click()
    WebDriverWait(browser, WAIT_S).until(lambda d: f"other={ids['beijing']}" in d.current_url)
    text = load(browser, browser.current_url, 1, "second − first")
    assert ids["beijing"] in browser.find_element(By.ID, "compare-table").text
    assert traces_with_points(browser) == 8  # 4 panels x 2 runs
    assert "co2_marginal_t" in text


def test_csv_download(browser, base_url, runs, downloads):
    store, ids = runs
    load(browser, f"{base_url}/export?run={ids['default']}", 0, "Download CSV")
    browser.find_element(By.ID, "export-button").click()
    target = downloads / f"{ids['default']}-gen_p_mw.csv"
    deadline = time.monotonic() + WAIT_S
    while not target.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    lines = target.read_text().splitlines()
    first = store.open(ids["default"])["gen_p_mw"].isel(time=0, gen=0)
    assert lines[0] == "time,gen,gen_p_mw"
    stamp, gen, value = lines[1].split(",")
    assert stamp == f"{first['time'].values.astype('datetime64[s]')}Z" and gen == "0"
    assert float(value) == pytest.approx(float(first))
    shutil.rmtree(downloads, ignore_errors=True)
