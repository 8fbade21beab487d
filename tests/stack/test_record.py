"""The running stack's record: where its parts listen, for commands from another shell."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from streamsim.cli import main
from streamsim.settings import (
    BiSettings,
    KafkaSettings,
    OrchestratorSettings,
    Settings,
    UsersSettings,
    load_settings,
)
from streamsim.stack.record import (
    addresses,
    read_stack_record,
    settings_of_running_stack,
    write_stack_record,
)

from .one_page import one_page


def running_stack_with(settings: Settings, pid: int | None = None) -> None:
    record = {"state": "running", "addresses": addresses(settings), "up_pid": pid or os.getpid()}
    write_stack_record(settings, record)


def test_another_shell_reaches_the_parts_at_the_addresses_the_run_recorded(
    tmp_path: Path,
) -> None:
    running = Settings(
        state_dir=tmp_path,
        orchestrator=OrchestratorSettings(port=18080),
        users=UsersSettings(port=18001),
        kafka=KafkaSettings(port=19092),
        bi=BiSettings(port=18088),
    )
    running_stack_with(running)
    shell = Settings(
        state_dir=tmp_path, orchestrator=OrchestratorSettings(token=SecretStr("the shell's"))
    )

    reached = settings_of_running_stack(shell, read_stack_record(shell) or {})

    assert reached.orchestrator.port == 18080
    assert reached.users.port == 18001
    assert reached.kafka.bootstrap == "127.0.0.1:19092"
    assert reached.bi.port == 18088
    assert reached.orchestrator.token is not None
    assert reached.orchestrator.token.get_secret_value() == "the shell's"


def test_a_record_left_by_a_run_that_was_killed_is_no_running_stack(tmp_path: Path) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    settings = Settings(state_dir=tmp_path)
    running_stack_with(settings, pid=gone.pid)

    assert read_stack_record(settings) is None


@pytest.fixture
def orchestrator_like() -> Iterator[int]:
    """Answers GET /api/config as the orchestrator does, naming which one answered."""
    with one_page("/api/config", json.dumps({"answered_by": "the running stack"}).encode()) as port:
        yield port


def test_config_get_asks_the_running_stack_even_when_the_shell_names_another_port(
    tmp_path: Path,
    orchestrator_like: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("STREAMSIM_STATE_DIR", str(tmp_path))
    running_stack_with(load_settings(orchestrator=OrchestratorSettings(port=orchestrator_like)))
    # Nothing listens here: before, `config get` asked this port and failed.
    monkeypatch.setenv("STREAMSIM_ORCHESTRATOR__PORT", "1")

    assert main(["config", "get"]) == 0
    assert json.loads(capsys.readouterr().out) == {"answered_by": "the running stack"}
