"""The control page in headless Chromium (Debian's), served by a real orchestrator process."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from browser import ARTIFACTS, CHROMIUM, QUIET_FLAGS

from .conftest import OrchestratorProcess


def config_of(process: OrchestratorProcess) -> dict[str, Any]:
    with urllib.request.urlopen(f"{process.url}/api/config", timeout=5) as answer:
        config: dict[str, Any] = json.loads(answer.read())
        return config


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_moving_a_slider_changes_the_config_seen_through_the_api(
    orchestrator_process: OrchestratorProcess, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            args=QUIET_FLAGS,
            headless=True,
            viewport={"width": 1400, "height": 820},
        )
        try:
            page = browser.new_page()
            page.goto(orchestrator_process.url)
            slider = page.locator("#error_factor-slider")
            slider.wait_for()
            # The figures show a dash until the first stats arrive.
            page.wait_for_function("/[0-9]/.test(document.getElementById('requested').textContent)")

            slider.focus()
            page.keyboard.press("Home")
            for _ in range(4):  # a tenth of the range at a time: to 0.4 of 0..1
                page.keyboard.press("PageUp")
            page.wait_for_function(
                "document.getElementById('message').textContent === 'error_factor set to 0.4'"
            )
            page.wait_for_timeout(1500)  # let the figures and the history fill in
            page.screenshot(path=str(ARTIFACTS / "orchestrator-page.png"), full_page=True)
            message = page.locator("#message").text_content()
        finally:
            browser.close()

    config = config_of(orchestrator_process)
    assert config["error_factor"] == pytest.approx(0.4), message
    assert config["max_rate"] == 3.0 and config["period_s"] == 30.0
