"""Child processes the launcher owns: each in its own process group, logged to a file."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import psutil

from streamsim.stack.errors import StackError

log = logging.getLogger(__name__)


def port_owner(port: int) -> str:
    """Name the process listening on a port, when the OS lets us see it."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except psutil.AccessDenied:
        return "another process"
    for conn in connections:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            if conn.pid is None:
                return "another process"
            try:
                return f"pid {conn.pid} ({psutil.Process(conn.pid).name()})"
            except psutil.Error:
                return f"pid {conn.pid}"
    return "another process"


def ensure_port_free(host: str, port: int, setting: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Servers reuse addresses, so a closed connection still in TIME_WAIT is no obstacle.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            raise StackError(
                f"port {host}:{port} is taken by {port_owner(port)}; stop it, or move "
                f"streamsim with {setting}=<free port>"
            ) from None


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the OS picks it): Ray's internals, the tests."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def wait_until_open(host: str, port: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not port_open(host, port):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def wait_for_port(host: str, port: int, timeout_s: float, what: str, proc: Process) -> None:
    deadline = time.monotonic() + timeout_s
    while not port_open(host, port):
        if not proc.alive():
            raise StackError(f"{what} exited while starting; see {proc.log_path}")
        if time.monotonic() > deadline:
            raise StackError(
                f"{what} did not open {host}:{port} in {timeout_s:.0f} s; see {proc.log_path}"
            )
        time.sleep(0.2)


_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask Linux to SIGTERM the child if the launcher dies, even by SIGKILL.

    Children run in sessions of their own (so a terminal's Ctrl-C reaches only the
    launcher, which then stops them in order); this keeps them from outliving it.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: the launcher's own stop() still ends every child


class Process:
    """One child process, in a session of its own so that stopping it stops its children."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_dir: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_dir / f"{name}.log"
        self._env = {**os.environ, **(env or {})}
        self._cwd = cwd
        self._popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log_file:
            self._popen = subprocess.Popen(
                self.argv,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self._env,
                cwd=self._cwd,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        log.info("started %s (pid %s), log %s", self.name, self._popen.pid, self.log_path)

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen else None

    def alive(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def stop(self, grace_s: float = 15.0) -> None:
        """SIGTERM the whole group, then SIGKILL whatever is left after the grace time."""
        if self._popen is None:
            return
        group = self._popen.pid
        self._signal_group(group, signal.SIGTERM)
        try:
            self._popen.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop in %.0f s; killing it", self.name, grace_s)
        self._signal_group(group, signal.SIGKILL)
        self._popen.wait(timeout=5)
        self._reap_group_leftovers(group)

    def _signal_group(self, group: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, sig)

    def _reap_group_leftovers(self, group: int) -> None:
        """Children that left the group's leader behind still carry its group id.

        SIGKILL is delivered at once but a process takes a moment to die; wait for that, so
        a port or file it held is free when stop() returns.
        """
        leftovers = []
        for proc in psutil.process_iter(["pid"]):
            try:
                if os.getpgid(proc.pid) == group:
                    proc.kill()
                    leftovers.append(proc)
            except (ProcessLookupError, psutil.Error, OSError):
                continue
        psutil.wait_procs(leftovers, timeout=5)
