"""The launcher's child processes and the ports it checks before starting anything."""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from streamsim.stack.errors import StackError
from streamsim.stack.processes import Process, ensure_port_free, free_port, port_open


@pytest.fixture
def listening_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


def test_a_taken_port_is_refused_naming_the_port_and_the_setting(listening_port: int) -> None:
    with pytest.raises(StackError) as refused:
        ensure_port_free("127.0.0.1", listening_port, "STREAMSIM_ORCHESTRATOR__PORT")

    message = str(refused.value)
    assert f"127.0.0.1:{listening_port}" in message
    assert "STREAMSIM_ORCHESTRATOR__PORT=<free port>" in message
    assert "\n" not in message


def test_a_free_port_passes() -> None:
    ensure_port_free("127.0.0.1", free_port(), "STREAMSIM_ORCHESTRATOR__PORT")


def test_port_open_tells_a_listening_port_from_a_closed_one(listening_port: int) -> None:
    assert port_open("127.0.0.1", listening_port)
    assert not port_open("127.0.0.1", free_port())


def living_members(group: int) -> list[int]:
    """Processes still in `group`; a zombie has finished, only its parent has not looked."""
    members = []
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if os.getpgid(proc.pid) == group and proc.info["status"] != psutil.STATUS_ZOMBIE:
                members.append(proc.pid)
        except (ProcessLookupError, psutil.Error, OSError):
            continue
    return members


def wait_for_members(group: int, count: int, timeout_s: float = 20.0) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while len(members := living_members(group)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return members


STUBBORN_SHELL = ["sh", "-c", 'trap "" TERM; sleep 300 & sleep 300']
STUBBORN_PYTHON = [
    sys.executable,
    "-c",
    "import signal, subprocess, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
    "time.sleep(300)\n",
]


@pytest.mark.parametrize("argv", [STUBBORN_SHELL, STUBBORN_PYTHON], ids=["shell", "python"])
@pytest.mark.timeout(30)
def test_stop_ends_a_child_that_ignores_sigterm_and_its_children(
    argv: list[str], tmp_path: Path
) -> None:
    process = Process("stubborn", argv, tmp_path)
    process.start()
    group = process.pid
    assert group is not None
    try:
        assert len(wait_for_members(group, 2)) >= 2  # the child and its own child

        began = time.monotonic()
        process.stop(grace_s=0.5)

        assert time.monotonic() - began < 10.0  # grace 0.5 s, then SIGKILL: far below
        assert not process.alive()
        assert living_members(group) == []
    finally:
        for pid in living_members(group):  # only ours: the group the test started
            os.kill(pid, signal.SIGKILL)


@pytest.mark.timeout(30)
def test_a_child_that_obeys_sigterm_stops_without_waiting_out_the_grace(tmp_path: Path) -> None:
    process = Process("obedient", ["sleep", "300"], tmp_path)
    process.start()

    began = time.monotonic()
    process.stop(grace_s=20.0)

    assert time.monotonic() - began < 3.0
    assert not process.alive()


@pytest.mark.timeout(30)
def test_a_childs_output_goes_to_its_log_with_its_environment(tmp_path: Path) -> None:
    process = Process(
        "talker", ["sh", "-c", 'echo "said $WORD"'], tmp_path / "logs", env={"WORD": "hello"}
    )
    process.start()
    deadline = time.monotonic() + 5
    while process.alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    process.stop()

    assert process.log_path == tmp_path / "logs" / "talker.log"
    assert process.log_path.read_text() == "said hello\n"


def test_stopping_a_process_never_started_does_nothing(tmp_path: Path) -> None:
    process = Process("idle", ["sleep", "1"], tmp_path)

    process.stop()

    assert process.pid is None and not process.alive()
