"""Superset on a real stack: each dashboard in headless Chromium, and provisioning again.

One `streamsim up` serves every test here: Kafka, Ray, the sink, Dagster and Superset, with
the dashboards provisioned by the stack itself once the first serving copy is published.
The pictures are taken only once every charted dataset has rows: the quality models run on
a slower schedule than the rest, and a chart saying "No results" shows nothing worth seeing.
"""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import duckdb
import pytest
from browser import ARTIFACTS, CHROMIUM, QUIET_FLAGS

from streamsim.bi.client import SupersetClient, SupersetError
from streamsim.bi.provision import DATABASE_NAME, provision
from streamsim.bi.server import read_admin
from streamsim.bi.specs import ChartSpec, DashboardSpec, read_dashboards, read_saved_queries
from streamsim.settings import Settings
from streamsim.stack.isolated import isolated_env

BIN = Path(sys.executable).parent
READY_LINE = "Superset dashboards ready"
# The first pipeline run builds every model: minutes on a 2-core machine shared with others
# (at a load average of 40-70 it started 11 minutes after `up` did).
READY_TIMEOUT_S = 1500.0
# After the dashboards are ready, the quality job (every 2 minutes, after the fast models)
# still has to fill the data-quality charts: under load its runs take minutes each.
ROWS_TIMEOUT_S = 900.0
# The stop drains the run through one last pipeline run: minutes on a loaded machine. A
# `streamsim up` killed instead leaves its broker, Ray head and Superset running.
STOP_TIMEOUT_S = 600.0
NO_RESULTS = "No results"
LOOPBACK = "127.0.0.1"

pytestmark = [pytest.mark.slow]


@dataclass
class LiveStack:
    up: subprocess.Popen[str]
    settings: Settings
    url: str
    lines: list[str] = field(default_factory=list)


def stack_env(state: Path) -> dict[str, str]:
    return isolated_env(
        state,
        {
            "ORCHESTRATOR__MAX_RATE": 1,
            "ORCHESTRATOR__PERIOD_S": 600,
            "ORCHESTRATOR__ERROR_FACTOR": 0.1,
            "SERVERS__MAX_SERVERS": 3,
            "USERS__SEED": 8,
        },
    )


def read_lines(up: subprocess.Popen[str], into: queue.Queue[str]) -> None:
    assert up.stdout is not None
    for line in up.stdout:
        into.put(line)


def wait_for_dashboards(stack: LiveStack, lines: queue.Queue[str]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1.0)
        except queue.Empty:
            assert stack.up.poll() is None, "".join(stack.lines)
            continue
        stack.lines.append(line)
        if READY_LINE in line:
            return
    pytest.fail(f"no dashboards in {READY_TIMEOUT_S:.0f} s:\n{''.join(stack.lines)}")


@pytest.fixture(scope="module")
def live_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    state = tmp_path_factory.mktemp("bi") / "state"
    env = stack_env(state)
    # Long enough for the waits below; the fixture stops the run as soon as the tests are done.
    run_s = READY_TIMEOUT_S + ROWS_TIMEOUT_S + 600
    argv = [str(BIN / "streamsim"), "up", "--duration", f"{run_s:.0f}", "--speed", "10"]
    up = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    settings = Settings(state_dir=state)
    stack = LiveStack(up, settings, f"http://{LOOPBACK}:{env['STREAMSIM_BI__PORT']}")
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=read_lines, args=(up, lines), daemon=True).start()
    try:
        wait_for_dashboards(stack, lines)
        yield stack
    finally:
        up.send_signal(signal.SIGINT)  # a clean stop: everything it started goes with it
        try:
            up.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            up.kill()
            up.wait(timeout=30)
        if up.stdout is not None:
            up.stdout.close()


def chart_rows(serving_copy: Path, chart: ChartSpec) -> int:
    """Rows the chart's dataset holds under the chart's own filter, in the copy Superset reads."""
    where = f" WHERE {chart.where}" if chart.where else ""
    with duckdb.connect(str(serving_copy), read_only=True) as db:
        try:
            found = db.execute(f"SELECT COUNT(*) FROM {chart.dataset}{where}").fetchone()
        except duckdb.CatalogException:
            return 0  # the table comes with a later pipeline run
    return int(found[0]) if found else 0


def charts_without_rows(serving_copy: Path) -> list[str]:
    return [
        f"{dashboard.slug}: {chart.name} ({chart.dataset})"
        for dashboard in read_dashboards()
        for chart in dashboard.charts
        if chart_rows(serving_copy, chart) == 0
    ]


def wait_for_rows_in_every_chart(stack: LiveStack) -> list[str]:
    """The charts still without rows when the wait ends: none, unless it timed out (the test
    then still takes its pictures, which show what was missing, before it fails)."""
    began = time.monotonic()
    empty = charts_without_rows(stack.settings.serving_path)
    while empty and time.monotonic() - began < ROWS_TIMEOUT_S:
        assert stack.up.poll() is None, "".join(stack.lines)
        time.sleep(5.0)
        empty = charts_without_rows(stack.settings.serving_path)
    print(f"waited {time.monotonic() - began:.0f} s for rows; charts without: {empty}")
    return empty


@dataclass
class Traffic:
    """What the page asked for: chart answers, and anything aimed beyond loopback."""

    chart_answers: list[int] = field(default_factory=list)
    chart_errors: list[str] = field(default_factory=list)
    empty_answers: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    outside_sent: list[str] = field(default_factory=list)

    def watch(self, page: Any) -> None:
        page.on("request", self._request)
        page.on("requestfinished", self._finished)
        page.on("requestfailed", self._failed)
        page.on("response", self._response)

    def _request(self, request: Any) -> None:
        if urlsplit(request.url).scheme in ("http", "https", "ws", "wss") and not on_loopback(
            request.url
        ):
            self.outside.append(request.url)

    def _finished(self, request: Any) -> None:
        if not on_loopback(request.url) and urlsplit(request.url).scheme.startswith("http"):
            self.outside_sent.append(request.url)

    def _failed(self, request: Any) -> None:
        # Only the browser's own policy stopping it before it left counts as not sent.
        failure = request.failure or ""
        if not on_loopback(request.url) and failure not in ("csp", "net::ERR_BLOCKED_BY_CSP"):
            self.outside_sent.append(f"{request.url} ({failure})")

    def _response(self, response: Any) -> None:
        if "/api/v1/chart/data" not in response.url:
            return
        self.chart_answers.append(response.status)
        if response.status >= 400:
            self.chart_errors.append(f"{response.status} {response.text()[:300]}")
        elif not any(result.get("rowcount") for result in response.json().get("result", [])):
            self.empty_answers.append(response.url)


def on_loopback(url: str) -> bool:
    return urlsplit(url).hostname in (LOOPBACK, None)


def log_in(page: Any, stack: LiveStack) -> None:
    admin = read_admin(stack.settings)
    page.goto(f"{stack.url}/login/")
    page.locator("#username").fill(admin.username)
    page.locator("#password").fill(admin.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login" not in url, timeout=60_000)


def open_dashboard(page: Any, stack: LiveStack, dashboard: DashboardSpec, traffic: Traffic) -> None:
    """Wait until each chart has its answer and nothing on the page still loads."""
    before = len(traffic.chart_answers)
    page.goto(f"{stack.url}/superset/dashboard/{dashboard.slug}/")
    deadline = time.monotonic() + 90
    while len(traffic.chart_answers) - before < len(dashboard.charts):
        assert time.monotonic() < deadline, f"{dashboard.slug}: charts did not all answer"
        page.wait_for_timeout(250)
    charts = len(dashboard.charts)
    page.wait_for_function(
        f"document.querySelectorAll('.chart-container').length >= {charts} && "
        "document.querySelectorAll('[data-test=\"loading-indicator\"], .loading').length === 0",
        timeout=60_000,
    )
    page.wait_for_timeout(1500)  # let ECharts finish its entry animation before the picture


@pytest.mark.timeout(3000)
def test_every_dashboard_renders_its_charts_with_rows_without_error_or_outside_traffic(
    live_stack: LiveStack, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    charts_still_empty = wait_for_rows_in_every_chart(live_stack)
    traffic = Traffic()
    errors_on_page: dict[str, int] = {}
    no_results_on_page: dict[str, int] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            args=QUIET_FLAGS,
            headless=True,
            viewport={"width": 1600, "height": 1000},
        )
        try:
            page = browser.new_page()
            traffic.watch(page)
            log_in(page, live_stack)
            for dashboard in read_dashboards():
                open_dashboard(page, live_stack, dashboard, traffic)
                errors_on_page[dashboard.slug] = page.locator(
                    '[data-test="error-alert"], .ant-alert-error'
                ).count()
                no_results_on_page[dashboard.slug] = page.get_by_text(NO_RESULTS).count()
                shot = ARTIFACTS / f"superset-{dashboard.slug}.png"
                page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()

    assert charts_still_empty == [], f"no rows after {ROWS_TIMEOUT_S:.0f} s"
    assert traffic.chart_errors == []
    assert errors_on_page == {d.slug: 0 for d in read_dashboards()}
    assert no_results_on_page == {d.slug: 0 for d in read_dashboards()}
    assert traffic.empty_answers == []
    assert traffic.outside_sent == [], traffic.outside_sent
    assert all(status == 200 for status in traffic.chart_answers)


@pytest.mark.timeout(120)
def test_provisioning_a_second_time_changes_nothing(live_stack: LiveStack) -> None:
    client = logged_in(live_stack)

    outcome = provision(client, live_stack.settings.serving_path, live_stack.settings.bi.refresh_s)

    assert outcome.changed == 0, dict(outcome.changes)
    assert set(outcome.dashboards) == {"system-health", "product", "data-quality"}


def logged_in(stack: LiveStack) -> SupersetClient:
    admin = read_admin(stack.settings)
    client = SupersetClient(stack.url)
    client.login(admin.username, admin.password)
    return client


def run_in_sql_lab(client: SupersetClient, sql: str) -> dict[str, Any]:
    databases = client.list_all("database", ("id", "database_name"))
    [database] = [d["id"] for d in databases if d["database_name"] == DATABASE_NAME]
    body = {"database_id": database, "sql": sql, "runAsync": False, "schema": "main"}
    answer: dict[str, Any] = client.call("POST", "/api/v1/sqllab/execute/", body)
    return answer


@pytest.mark.timeout(120)
def test_every_saved_question_answers_in_sql_lab(live_stack: LiveStack) -> None:
    client = logged_in(live_stack)

    for query in read_saved_queries():
        answer = run_in_sql_lab(client, query.sql)

        assert answer["status"] == "success", query.label


@pytest.mark.timeout(120)
def test_sql_lab_cannot_read_the_machines_files(live_stack: LiveStack) -> None:
    client = logged_in(live_stack)

    with pytest.raises(SupersetError, match="disabled by configuration"):
        run_in_sql_lab(client, "SELECT * FROM read_text('/etc/hostname')")
