"""The stack's own processes beside Ray: the sink, Dagster and the orchestrator."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from streamsim.pipeline.home import dagster_commands, dagster_environment, prepare_dagster_home
from streamsim.settings import Settings
from streamsim.stack.processes import Process, ensure_port_free, wait_for_port


def child_environment(settings: Settings) -> dict[str, str]:
    """What every child must share with the launcher: the run, its clock, its places."""
    return {
        "STREAMSIM_STATE_DIR": str(settings.state),
        "STREAMSIM_RUN_ID": settings.run_id,
        "STREAMSIM_SPEED": repr(settings.speed),
        "STREAMSIM_SITE_ORIGIN": repr(settings.site_origin or time.time()),
        "STREAMSIM_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap,
        "PYTHONUNBUFFERED": "1",
    }


def python_module(module: str) -> list[str]:
    return [sys.executable, "-m", module]


def sink_process(settings: Settings) -> Process:
    return Process(
        "sink", python_module("streamsim.sink"), settings.logs_dir, child_environment(settings)
    )


def orchestrator_process(settings: Settings) -> Process:
    return Process(
        "orchestrator",
        python_module("streamsim.orchestrator"),
        settings.logs_dir,
        child_environment(settings),
    )


def dagster_processes(settings: Settings) -> list[Process]:
    prepare_dagster_home(settings)
    env = {**dagster_environment(settings), **child_environment(settings)}
    commands = dagster_commands(settings)
    return [
        Process(f"dagster-{name}", argv, settings.logs_dir, env, cwd=Path(settings.state))
        for name, argv in commands.items()
    ]


def check_ports(settings: Settings) -> None:
    """Every port this run will listen on, checked before anything starts."""
    s = settings
    wanted = [
        (s.users.host, s.users.port, "STREAMSIM_USERS__PORT"),
        (s.servers.host, s.servers.router_port, "STREAMSIM_SERVERS__ROUTER_PORT"),
        (s.orchestrator.host, s.orchestrator.port, "STREAMSIM_ORCHESTRATOR__PORT"),
        (s.pipeline.host, s.pipeline.port, "STREAMSIM_PIPELINE__PORT"),
    ]
    if s.kafka.is_local:
        wanted += [
            (s.kafka.host, s.kafka.port, "STREAMSIM_KAFKA__PORT"),
            (s.kafka.host, s.kafka.controller_port, "STREAMSIM_KAFKA__CONTROLLER_PORT"),
        ]
    if s.ray.address is None:
        wanted += [
            (s.ray.host, s.ray.port, "STREAMSIM_RAY__PORT"),
            (s.ray.host, s.ray.dashboard_port, "STREAMSIM_RAY__DASHBOARD_PORT"),
        ]
    for host, port, setting in wanted:
        ensure_port_free(host, port, setting)


def start_and_wait(process: Process, host: str, port: int, what: str, timeout_s: float) -> None:
    process.start()
    wait_for_port(host, port, timeout_s, what, process)
