"""The three UIs over the end-to-end state, driven in headless Chromium (Debian's, through
Playwright): they listen on 127.0.0.1 only, Airflow asks for a login (the generated one works,
nothing is served without it), the DAG runs are green in Airflow (the damaged day red), a task
links to its Evidently report, the champion alias is on its version in MLflow, and the report
renders its metrics in the Evidently UI. Screenshots are saved for a person to look at."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.e2e.conftest import BAD_DAY, DAYS
from tests.services import announce

pytestmark = [pytest.mark.slow, pytest.mark.integration]
CHROMIUM = os.environ.get("RANKCT_CHROMIUM", "/usr/bin/chromium")
# The flags a root, offline, display-less machine needs (no sandbox, no network chatter).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


@pytest.fixture(scope="module")
def uis(end_to_end):
    from rankct.orchestrate.ui import running_uis

    with running_uis(end_to_end.config) as started:
        yield started


@pytest.fixture(scope="module")
def browser(uis):
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    yield context.new_page()
    context.close()


@pytest.fixture
def airflow_page(end_to_end, page):
    """A page logged in to Airflow through its login form, with the password rankct generated."""
    from rankct.orchestrate.ui import airflow_login

    user, password, _ = airflow_login(end_to_end.config)
    page.goto(end_to_end.config.ui.airflow_url, wait_until="domcontentloaded")
    page.locator("input[name=username]").fill(user, timeout=60_000)
    page.locator("input[type=password]").fill(password)
    page.locator("input[type=password]").press("Enter")
    page.wait_for_url(lambda url: "/auth/" not in url, timeout=60_000)
    return page


def _listening_addresses(port: int) -> set[str]:
    """Local addresses of the sockets listening on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


def test_the_uis_listen_on_loopback_and_airflow_needs_a_login(end_to_end, uis) -> None:
    import requests

    loopback = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1, ::1
    for url in (end_to_end.config.ui.airflow_url, end_to_end.config.ui.mlflow_url,
                end_to_end.config.ui.evidently_url):
        addresses = _listening_addresses(int(url.rsplit(":", 1)[1]))
        assert addresses and addresses <= loopback, (url, addresses)
    base = end_to_end.config.ui.airflow_url
    assert requests.get(f"{base}/api/v2/dags", timeout=10).status_code == 401
    refused = requests.post(f"{base}/auth/token", json={"username": "admin",
                                                        "password": "not-it"}, timeout=10)
    assert refused.status_code == 401


@pytest.fixture(scope="module")
def shots(end_to_end) -> Path:
    folder = end_to_end.config.home / "ui_screenshots"
    folder.mkdir(exist_ok=True)
    announce(f"UI screenshots in {folder}")
    return folder


def _eventually(check, timeout: float = 60.0) -> None:
    """Retry ``check`` (an assertion) while the single-page apps load their data."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            check()
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def test_airflow_shows_green_runs_and_the_stopped_day(end_to_end, airflow_page, shots) -> None:
    page = airflow_page
    base = end_to_end.config.ui.airflow_url
    page.goto(f"{base}/dags/ranker_continuous_training/runs", wait_until="domcontentloaded")

    def runs_listed() -> None:
        rows = page.locator("tr").all_inner_texts()
        by_day = {day: [r for r in rows if day.isoformat() in r] for day in DAYS[3:]}
        assert all(by_day.values()), rows
        assert "Failed" in by_day[BAD_DAY][0]
        assert all("Success" in by_day[day][0] for day in (DAYS[3], DAYS[5]))

    _eventually(runs_listed)
    page.screenshot(path=str(shots / "airflow_runs.png"), full_page=True)


def test_airflow_task_links_to_its_evidently_report(end_to_end, airflow_page, shots) -> None:
    page = airflow_page
    config = end_to_end.config
    run_id = next(r.run_id for r, _ in end_to_end.report.days if r.day == DAYS[3])
    page.goto(f"{config.ui.airflow_url}/dags/ranker_continuous_training/runs/"
              f"{quote(run_id, safe='')}/tasks/evaluate", wait_until="domcontentloaded")
    page.get_by_text("Details", exact=True).last.click(timeout=60_000)  # waits for the app
    link = page.get_by_role("link", name="Evidently report")
    link.wait_for(timeout=60_000)
    assert link.get_attribute("href").startswith(config.ui.evidently_url + "/projects/")
    page.screenshot(path=str(shots / "airflow_task_links.png"), full_page=True)


def test_mlflow_shows_the_champion_alias_on_its_version(end_to_end, page, shots) -> None:
    from rankct.registry import champion_version, open_store

    champion = champion_version(open_store(end_to_end.config))
    base = end_to_end.config.ui.mlflow_url
    page.goto(f"{base}/#/models/marketplace_ranker", wait_until="domcontentloaded")
    # The registry lives in the "Model training" view of MLflow 3's UI.
    page.get_by_text("Model training", exact=True).first.click(timeout=60_000)
    page.goto(f"{base}/#/models/marketplace_ranker", wait_until="domcontentloaded")

    def champion_shown() -> None:
        rows = [r for r in page.locator("tr, [role=row]").all_inner_texts()
                if f"Version {champion}" in r]
        assert rows and "champion" in rows[0], page.inner_text("body")[:2000]

    _eventually(champion_shown)
    page.screenshot(path=str(shots / "mlflow_model_versions.png"), full_page=True)


def test_evidently_renders_the_ranking_report(end_to_end, page, shots) -> None:
    index = [json.loads(p.read_text()) for p in
             (end_to_end.config.home / "evidently" / "rankct_index").glob("*.json")]
    url = next(entry["url"] for entry in index if "/ranking/" in entry["source"])
    page.goto(url, wait_until="domcontentloaded")

    def metrics_rendered() -> None:
        text = page.inner_text("body")
        assert "NDCG" in text and "rankct · ranking quality" in text, text[:1000]
        assert re.search(r"challenger v\d+: NDCG", text), text[:1000]  # which model it is
        assert page.locator("svg").count() > 0  # the metric plots were drawn

    _eventually(metrics_rendered)
    page.screenshot(path=str(shots / "evidently_ranking_report.png"), full_page=True)

