"""`make airflow` as the README says, on a fresh home: Airflow standalone comes up on loopback,
and a real browser (Debian's headless Chromium, through Selenium and chromedriver) signs in
with the admin password standalone made, sees the four DAGs, and reads the dbt docs site the
UI serves through astronomer-cosmos."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.processes import check_ended, log_tail

REPO = Path(__file__).resolve().parent.parent
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
DAGS = ("dataplat_hourly", "dataplat_daily", "dataplat_monthly", "dataplat_maintenance")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """`make airflow` on an empty home and a free port: (UI address, AIRFLOW_HOME). It must
    be up within 5 minutes and still running when the tests are done."""
    home = tmp_path_factory.mktemp("airflow-ui") / "home"
    port = free_port()
    log = home.parent / "airflow.log"
    env = {**os.environ, "DATAPLAT_HOME": str(home), "AIRFLOW__API__PORT": str(port)}
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["make", "--no-print-directory", "airflow"], cwd=REPO, env=env, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            check_ended(process, (None,), log_tail(log))
            try:
                if httpx.get(f"{base}/api/v2/monitor/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"Airflow did not answer in 300 s\n{log_tail(log)}")
            time.sleep(2)
        yield base, home / "airflow"
        check_ended(process, (None,), log_tail(log))  # still running after the tests
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)  # standalone and every part it started
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                pytest.fail(f"Airflow did not stop within 60 s of SIGTERM\n{log_tail(log)}")


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.fail("no Chromium: `apt-get install chromium chromium-driver` (.ci/run does)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--window-size=1400,1000"):  # fmt: skip
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def _wait_for_text(browser, text: str, timeout: float = 90) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, timeout).until(lambda b: text in b.page_source)


def test_the_ui_listens_on_loopback_and_asks_for_a_password(airflow):
    base, _ = airflow
    assert base.startswith("http://127.0.0.1:")
    assert httpx.get(f"{base}/api/v2/dags", timeout=10).status_code == 401


def test_a_browser_signs_in_sees_the_dags_and_reads_the_dbt_docs(airflow, browser):
    from selenium.webdriver.common.by import By

    base, airflow_home = airflow
    passwords = airflow_home / "simple_auth_manager_passwords.json.generated"
    password = json.loads(passwords.read_text())["admin"]

    browser.get(f"{base}/dags")
    _wait_for_text(browser, "password")
    browser.find_element(By.NAME, "username").send_keys("admin")
    browser.find_element(By.NAME, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    for dag in DAGS:
        _wait_for_text(browser, dag)

    browser.get(f"{base}/cosmos/dataplat/dbt_docs")
    frame = browser.find_element(By.TAG_NAME, "iframe")
    browser.switch_to.frame(frame)
    _wait_for_text(browser, "mall_visitors_daily")  # the docs app's model tree
    browser.switch_to.default_content()
