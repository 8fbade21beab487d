"""A real orchestrator process of the tests' own: free ports, a temporary state folder."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from streamsim.settings import load_settings
from streamsim.stack.broker import running_broker
from streamsim.stack.processes import free_port


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Kafka broker on free ports: the orchestrator process emits its control events."""
    state = tmp_path_factory.mktemp("broker")
    with pytest.MonkeyPatch.context() as env:
        env.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
        env.setenv("STREAMSIM_CONFIG", os.devnull)
        kafka = {"port": free_port(), "controller_port": free_port()}
        with running_broker(load_settings(state_dir=state, kafka=kafka)) as settings:
            yield settings.kafka.bootstrap


def orchestrator_env(state: Path, port: int, **extra: str) -> dict[str, str]:
    """Only loopback and free ports: the users and router ports have nobody behind them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMSIM_")}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    return {
        **env,
        "STREAMSIM_CONFIG": os.devnull,
        "STREAMSIM_STATE_DIR": str(state),
        "STREAMSIM_ORCHESTRATOR__PORT": str(port),
        "STREAMSIM_USERS__PORT": str(free_port()),
        "STREAMSIM_SERVERS__ROUTER_PORT": str(free_port()),
        **extra,
    }


@dataclass
class OrchestratorProcess:
    """`python -m streamsim.orchestrator`, started and stopped by the test that owns it."""

    env: dict[str, str]
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60.0) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "streamsim.orchestrator"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout_s
        while not self._answers():
            assert self.process.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, "the orchestrator did not start in time"
            time.sleep(0.2)

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=1):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)
        self.process = None


@pytest.fixture
def orchestrator_process(broker: str, tmp_path: Path) -> Iterator[OrchestratorProcess]:
    port = free_port()
    env = orchestrator_env(
        tmp_path / "state",
        port,
        STREAMSIM_KAFKA__BOOTSTRAP_SERVERS=broker,
        STREAMSIM_ORCHESTRATOR__MAX_RATE="3",
        STREAMSIM_ORCHESTRATOR__PERIOD_S="30",
    )
    process = OrchestratorProcess(env, port, tmp_path / "orchestrator.log")
    process.start()
    try:
        yield process
    finally:
        process.stop()
