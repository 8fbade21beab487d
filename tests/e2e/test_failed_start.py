"""A `streamsim up` whose start fails after Ray started leaves no process of its stack behind.

The orchestrator is the last part to start: the test takes its port once the launcher says
the Ray head is up (after the launcher checked its ports), so Kafka, Dagster, the Ray head,
the simulators and the sink are all running when the start fails. Seen before the fix: a
start that failed while the simulators connected to Ray left its Ray head running.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from streamsim.settings import Settings, load_settings
from streamsim.stack.record import read_stack_record

from .test_up import BIN, stack_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@dataclass
class FailedStart:
    returncode: int
    output: str
    pids: dict[str, int]
    ray_port: int
    state: Path


def read_until(up: subprocess.Popen[str], marker: str, seen: list[str]) -> None:
    assert up.stdout is not None
    for line in up.stdout:
        seen.append(line)
        if marker in line:
            return
    raise AssertionError(f"`streamsim up` ended before {marker!r}:\n{''.join(seen)}")


def taken_port(port: int) -> socket.socket:
    """Bound and not listening, without SO_REUSEADDR: nobody else can bind it, nobody answers."""
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", port))
    return holder


@pytest.fixture(scope="module")
def failed_start(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FailedStart]:
    state = tmp_path_factory.mktemp("failed-start") / "state"
    env, _ = stack_env(state)
    settings = load_settings(state_dir=state)
    up = subprocess.Popen(
        [str(BIN / "streamsim"), "up", "--duration", "30"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: list[str] = []
    try:
        read_until(up, "Ray ready in", seen)
        with taken_port(int(env["STREAMSIM_ORCHESTRATOR__PORT"])):
            pids = pids_until_exit(settings, up, timeout_s=420)
            rest, _ = up.communicate(timeout=60)
    finally:
        if up.poll() is None:
            up.kill()
            up.communicate()
    yield FailedStart(
        up.returncode, "".join(seen) + rest, pids, int(env["STREAMSIM_RAY__PORT"]), state
    )


def pids_until_exit(
    settings: Settings, up: subprocess.Popen[str], timeout_s: float
) -> dict[str, int]:
    """Every pid the stack record named while the start went on (it is gone once stopped)."""
    pids: dict[str, int] = {}
    deadline = time.monotonic() + timeout_s
    while up.poll() is None:
        assert time.monotonic() < deadline, "the failed start did not end"
        record = read_stack_record(settings) or {}
        pids |= {name: int(pid) for name, pid in record.get("pids", {}).items() if pid}
        time.sleep(0.2)
    return pids


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def processes_naming(*needles: str) -> list[str]:
    """Every live process whose command line holds one of the needles (ours: ports, folder)."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        line = " ".join(proc.info["cmdline"] or [])
        if any(needle in line for needle in needles) and alive(proc.info["pid"]):
            found.append(f"{proc.info['pid']}: {line[:200]}")
    return found


def test_the_launcher_fails_after_the_ray_head_started(failed_start: FailedStart) -> None:
    # The taken port fails the orchestrator; on a loaded machine the simulators' connection
    # to the new head may time out first, which is the same failure for this test.
    assert failed_start.returncode != 0
    assert "streamsim is up" not in failed_start.output
    assert "ray-head" in failed_start.pids, failed_start.output


def test_every_process_started_before_the_failure_is_gone(failed_start: FailedStart) -> None:
    assert {"kafka", "ray-head", "dagster-webserver"} <= set(failed_start.pids)
    deadline = time.monotonic() + 10  # a SIGKILLed process takes a moment to be reaped
    while any(alive(pid) for pid in failed_start.pids.values()) and time.monotonic() < deadline:
        time.sleep(0.5)

    assert {name: pid for name, pid in failed_start.pids.items() if alive(pid)} == {}


def test_no_ray_process_of_the_failed_stack_remains(failed_start: FailedStart) -> None:
    # The head's children (GCS, raylet, workers, dashboard) name its port or the state folder.
    ray_address = f"127.0.0.1:{failed_start.ray_port}"
    port_flag = f"--port={failed_start.ray_port}"

    assert processes_naming(ray_address, port_flag, str(failed_start.state)) == []
