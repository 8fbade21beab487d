"""The orchestrator as the process `streamsim up` starts, and `streamsim config` against it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from streamsim import cli
from streamsim.clock import SiteClock
from streamsim.orchestrator.api import orchestrator_app
from streamsim.orchestrator.main import counts_folder, read_counts
from streamsim.orchestrator.service import Orchestrator
from streamsim.settings import OrchestratorSettings, Settings, load_settings
from streamsim.stack.processes import free_port

from .conftest import OrchestratorProcess, orchestrator_env
from .support import served_in_thread

BIN = Path(sys.executable).parent


def streamsim(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "streamsim"), *args], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.timeout(60)
def test_the_process_refuses_to_start_beyond_loopback_without_a_token(tmp_path: Path) -> None:
    env = orchestrator_env(tmp_path, free_port(), STREAMSIM_ORCHESTRATOR__HOST="0.0.0.0")

    done = subprocess.run(
        [sys.executable, "-m", "streamsim.orchestrator"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 1
    assert "no token" in done.stderr and "STREAMSIM_ORCHESTRATOR__TOKEN" in done.stderr


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_settings_changed_with_the_cli_survive_a_restart_of_the_process(
    orchestrator_process: OrchestratorProcess,
) -> None:
    env = orchestrator_process.env

    changed = streamsim(env, "config", "set", "floor=1.5", "error_factor=0.4", "max_rate=9")
    assert changed.returncode == 0, changed.stderr
    orchestrator_process.stop()
    orchestrator_process.start()
    read = streamsim(env, "config", "get")

    assert read.returncode == 0, read.stderr
    settings = json.loads(read.stdout)
    assert settings["floor"] == 1.5 and settings["error_factor"] == 0.4
    assert settings["max_rate"] == 3.0  # set explicitly for this start: it wins
    assert settings["period_s"] == 30.0


def test_config_get_says_in_one_line_when_the_orchestrator_is_not_running(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("STREAMSIM_CONFIG", os.devnull)
    monkeypatch.setenv("STREAMSIM_ORCHESTRATOR__PORT", str(free_port()))

    assert cli.main(["config", "get"]) == 1

    error = capsys.readouterr().err
    assert error.startswith("streamsim: the orchestrator is not running at http://127.0.0.1:")
    assert error.count("\n") == 1


def test_config_set_shows_a_refusal_in_one_line_and_changes_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    orchestrators: list[Orchestrator] = []

    def make_app() -> Any:
        config = OrchestratorSettings()
        clock = SiteClock.starting_now(1.0)
        orchestrators.append(Orchestrator(config, clock, "", lambda _: None, "r1"))
        return orchestrator_app(orchestrators[0])

    monkeypatch.setenv("STREAMSIM_CONFIG", os.devnull)
    with served_in_thread(make_app) as url:
        monkeypatch.setenv("STREAMSIM_ORCHESTRATOR__PORT", url.rsplit(":", 1)[1])
        refused = cli.main(["config", "set", "error_factor=2"])
        accepted = cli.main(["config", "set", "arrivals=even", "max_rate=12.5"])

    out, err = capsys.readouterr()
    assert refused == 1
    assert err == (
        "streamsim: the orchestrator refused: error_factor: Input should be less than or "
        "equal to 1 (got 2) (allowed: a number >= 0 and <= 1)\n"
    )
    assert accepted == 0 and json.loads(out)["max_rate"] == 12.5
    assert orchestrators[0].wave.error_factor == 0.0 and orchestrators[0].wave.arrivals == "even"


def test_config_set_wants_key_equals_value(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["config", "set", "max_rate"]) == 1
    assert "expected key=value" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_killed_orchestrator_and_its_restart_each_keep_their_own_counts(
    orchestrator_process: OrchestratorProcess,
) -> None:
    settings = load_settings(state_dir=Path(orchestrator_process.env["STREAMSIM_STATE_DIR"]))
    assert orchestrator_process.process is not None
    announced = wait_for_counts(settings, 1)

    orchestrator_process.process.send_signal(signal.SIGKILL)
    orchestrator_process.process.wait(30)
    orchestrator_process.start()
    wait_for_counts(settings, 2)
    orchestrator_process.stop()

    every, killed = read_counts(settings)
    assert every.emitted == {"settings_changed": 2 * announced}
    assert every.delivered == every.emitted
    assert killed.emitted == {"settings_changed": announced}


def wait_for_counts(settings: Settings, incarnations: int, timeout_s: float = 60) -> int:
    """Until that many processes have had their announcements confirmed; how many each made."""
    deadline = time.monotonic() + timeout_s
    while True:
        files = sorted(counts_folder(settings).glob("*.json"))
        saved = [json.loads(path.read_text()) for path in files]
        confirmed = [s for s in saved if s["delivered"] and s["delivered"] == s["emitted"]]
        if len(confirmed) >= incarnations:
            return sum(confirmed[-1]["emitted"].values())
        assert time.monotonic() < deadline, f"counts seen: {saved}"
        time.sleep(0.2)
