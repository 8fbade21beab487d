"""The local Ray head, on loopback, owned by the launcher so it stops with it."""

from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path

from streamsim.settings import Settings
from streamsim.stack.errors import StackError
from streamsim.stack.processes import Process, ensure_port_free, free_port, wait_for_port

log = logging.getLogger(__name__)

# Ray reports usage unless told not to, and binds its sockets to the machine's outside
# address unless the node address is loopback and this flag keeps it there.
RAY_QUIET_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


def ray_binary() -> str:
    beside_python = Path(sys.executable).parent / "ray"
    found = str(beside_python) if beside_python.exists() else shutil.which("ray")
    if found is None:
        raise StackError("the `ray` command is missing: run `make install`")
    return found


class LocalRayHead:
    """`ray start --head --block` as a child: stopping it stops every Ray process it began."""

    def __init__(self, settings: Settings) -> None:
        self._ray = settings.ray
        self._process = Process(
            "ray-head",
            [
                ray_binary(),
                "start",
                "--head",
                "--block",
                f"--node-ip-address={self._ray.host}",
                f"--port={self._ray.port}",
                "--dashboard-host",
                self._ray.host,
                f"--dashboard-port={self._ray.dashboard_port}",
                f"--num-cpus={self._ray.num_cpus}",
                "--include-dashboard=true",
                "--disable-usage-stats",
                # Fixed by default (10001, 52365): free ones let two clusters share a machine.
                f"--ray-client-server-port={free_port(self._ray.host)}",
                f"--dashboard-agent-listen-port={free_port(self._ray.host)}",
            ],
            settings.logs_dir,
            # The launcher stops our actors itself first: nothing is left for Ray to drain.
            env={**RAY_QUIET_ENV, "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"},
        )

    @property
    def address(self) -> str:
        return f"{self._ray.host}:{self._ray.port}"

    def start(self, timeout_s: float = 60.0) -> None:
        ensure_port_free(self._ray.host, self._ray.port, "STREAMSIM_RAY__PORT")
        ensure_port_free(self._ray.host, self._ray.dashboard_port, "STREAMSIM_RAY__DASHBOARD_PORT")
        self._process.start()
        wait_for_port(self._ray.host, self._ray.port, timeout_s, "the Ray head", self._process)
        wait_for_port(
            self._ray.host, self._ray.dashboard_port, timeout_s, "the Ray dashboard", self._process
        )

    def alive(self) -> bool:
        return self._process.alive()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def stop(self) -> None:
        self._process.stop(grace_s=20.0)
