"""`streamsim up`: start every part, let the simulation run, then drain and account for it."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from ray.exceptions import GetTimeoutError

from streamsim.bi.live import Dashboards
from streamsim.bus import ensure_topics
from streamsim.clock import SiteClock
from streamsim.settings import Settings
from streamsim.stack.broker import LocalBroker
from streamsim.stack.errors import StackError
from streamsim.stack.processes import Process, ensure_port_free
from streamsim.stack.ray_head import LocalRayHead
from streamsim.stack.record import addresses, stack_file, write_stack_record
from streamsim.stack.restarts import RestartBudget
from streamsim.stack.services import (
    check_ports,
    dagster_processes,
    orchestrator_process,
    sink_process,
    start_and_wait,
)
from streamsim.stack.simulation import Simulation
from streamsim.stack.summary import RunSummary, summarise
from streamsim.users.model import load_model
from streamsim.warehouse_query import warehouse_counts

log = logging.getLogger(__name__)

SINK_CATCH_UP_S = 120.0  # the bound on waiting for the sink at the end of a run
PROGRESS_EVERY_S = 10.0


def say(line: str) -> None:
    print(line, flush=True)


class Stack:
    """Owns every process of one run; `stop()` leaves nothing of them behind."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.clock = SiteClock.for_run(settings.speed, settings.site_origin)
        self.started_at = datetime.now(UTC)
        self.broker = LocalBroker(settings) if settings.kafka.is_local else None
        self.ray_head = LocalRayHead(settings) if settings.ray.address is None else None
        self.simulation: Simulation | None = None
        self.sink = sink_process(settings)
        self.dagster = dagster_processes(settings)
        self.orchestrator = orchestrator_process(settings)
        self.dashboards = Dashboards(settings) if settings.bi.enabled else None
        self.restarts = RestartBudget()
        self.emitted: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()  # injected by the users, by kind
        # Counted by emitters that were killed before Kafka confirmed (or refused) them.
        self.unconfirmed: Counter[str] = Counter()
        self.resent_ids: list[str] = []  # sent again for an emitter that died

    # --- start ------------------------------------------------------------------------

    def start(self) -> None:
        # A broken behaviour model would only surface inside a Ray actor, after Kafka and
        # Ray had started: read it here first, so the error is one line and nothing starts.
        load_model(self.settings.users.model_file)
        check_ports(self.settings)
        if self.dashboards is not None:
            bi = self.settings.bi
            ensure_port_free(bi.host, bi.port, "STREAMSIM_BI__PORT")
        self._write_stack_file("starting")
        self._step("Kafka", self._start_kafka)
        # Superset next: its first start prepares its metadata while the rest starts. After
        # Kafka, so that a bus that cannot be reached stops the run before anything started.
        if self.dashboards is not None:
            self._step("Superset (in the background)", self.dashboards.process.start)
        # Dagster early: its daemon and code server take a while to load, and should be
        # ready to run the pipeline by the time the first lake files land.
        self._step("Dagster", self._start_dagster)
        self._step("Ray", self._start_ray)
        self._step("simulators on Ray", self._start_simulation)
        self._step("sink", self.sink.start)
        self._step("orchestrator", self._start_orchestrator)
        if self.dashboards is not None:
            self._step("Superset", self.dashboards.wait_until_up)
        self._write_stack_file("running")

    def _step(self, what: str, action: Callable[[], None]) -> None:
        began = time.monotonic()
        say(f"  starting {what} ...")
        try:
            action()
        finally:
            # Every pid started so far, even by a step that failed: `streamsim status` and
            # whoever cleans up after a crashed launcher can find each one.
            self._write_stack_file("starting")
        say(f"  {what} ready in {time.monotonic() - began:.1f} s")

    def _start_kafka(self) -> None:
        if self.broker is not None:
            self.broker.start()
        ensure_topics(self.settings.kafka)

    def _start_ray(self) -> None:
        if self.ray_head is not None:
            self.ray_head.start()

    def _start_simulation(self) -> None:
        address = self.ray_head.address if self.ray_head else str(self.settings.ray.address)
        self.simulation = Simulation(self.settings, self.clock, address)
        self.simulation.start()

    def _start_dagster(self) -> None:
        webserver, daemon = self.dagster
        pipeline = self.settings.pipeline
        start_and_wait(webserver, pipeline.host, pipeline.port, "the Dagster webserver", 120)
        daemon.start()

    def _start_orchestrator(self) -> None:
        config = self.settings.orchestrator
        start_and_wait(self.orchestrator, config.host, config.port, "the orchestrator", 60)

    def urls(self) -> dict[str, str]:
        s = self.settings
        return {
            "orchestrator": f"http://{s.orchestrator.host}:{s.orchestrator.port}/",
            "users": f"http://{s.users.host}:{s.users.port}/users",
            "router": f"http://{s.servers.host}:{s.servers.router_port}/health",
            "Ray dashboard": f"http://{s.ray.host}:{s.ray.dashboard_port}"
            if self.ray_head
            else str(s.ray.address),
            "Dagster": f"http://{s.pipeline.host}:{s.pipeline.port}",
            "Kafka": s.kafka.bootstrap,
            **({"Superset": self.dashboards.url} if self.dashboards else {}),
        }

    def _write_stack_file(self, state: str = "running") -> None:
        processes: dict[str, int | None] = {p.name: p.pid for p in self._processes()}
        if self.broker:
            processes["kafka"] = self.broker.pid
        if self.ray_head:
            processes["ray-head"] = self.ray_head.pid
        stack = {
            "state": state,
            "run_id": self.settings.run_id,
            "started_at": self.started_at.isoformat(),
            "speed": self.settings.speed,
            "urls": self.urls(),
            "addresses": addresses(self.settings),
            "up_pid": os.getpid(),
            "pids": processes,
        }
        write_stack_record(self.settings, stack)

    def _processes(self) -> list[Process]:
        superset = [self.dashboards.process] if self.dashboards else []
        return [self.sink, *self.dagster, self.orchestrator, *superset]

    # --- while running ----------------------------------------------------------------

    def dead_parts(self) -> list[str]:
        """Parts whose loss ends the run: the cluster holds every user and server."""
        dead = []
        if self.ray_head is not None and not self.ray_head.alive():
            dead.append("ray-head")
        return dead

    def restart_dead_broker(self) -> bool:
        """A broker keeps what it took on disk: the same one starts again on the same folder.

        The emitters hold what they send meanwhile and retry it, within their delivery bound
        (`streamsim.bus.emitter.DELIVERY_TIMEOUT_MS`); the sink reconnects by itself.
        """
        if self.broker is None or self.broker.alive():
            return False
        self.restarts.spend("kafka", self.settings.logs_dir / "kafka.log")
        log.warning("the Kafka broker exited; starting it again")
        self.broker.start()
        self._write_stack_file()
        return True

    def restart_dead_processes(self) -> list[str]:
        """The sink, Dagster and the orchestrator keep no state Kafka or disk does not hold.

        A sink killed mid-batch re-reads what it had not committed, so starting it again
        loses nothing; the same goes for the others. Each restart is said and logged, and a
        part that keeps dying ends the run (RestartBudget) rather than restarting for ever.
        """
        restarted = []
        for process in self._processes():
            if process.pid is not None and not process.alive():
                self.restarts.spend(process.name, process.log_path)
                log.warning("%s exited; starting it again (log %s)", process.name, process.log_path)
                process.start()
                restarted.append(process.name)
        if restarted:
            self._write_stack_file()
        return restarted

    def progress(self) -> str:
        if self.simulation is None:
            return ""
        try:
            state = self.simulation.describe()
        except GetTimeoutError:
            # A busy machine can keep the user service from answering a status call in time;
            # the run itself is fine, and ending it for a progress line would lose it.
            return f"the simulators did not answer in time; {queryable(self.settings)}"
        users = state.get("users", {})
        servers = state.get("servers", {}).get("servers", [])
        streams = sum(server["streams"] for server in servers)
        return (
            f"users active {users.get('active', 0)}, created "
            f"{users.get('totals', {}).get('created', 0)}; servers {len(servers)}, "
            f"streams {streams}; {queryable(self.settings)}"
        )

    # --- stop -------------------------------------------------------------------------

    def stop(self, drain: bool = True) -> RunSummary | None:
        """Stop the sources first, then let the sink and one last pipeline run catch up.

        Without `drain` (a start that failed, a run that broke) nothing is counted: the
        simulators are not asked for their counts, which on a cluster that is itself the
        failure could take minutes, and every part is stopped at once.
        """
        summary = None
        try:
            if drain:
                self._stop_sources()
                for process in self.dagster:
                    process.stop()
                summary = self._drain()
        finally:
            self._stop_everything()
        return summary

    def _stop_sources(self) -> None:
        if self.orchestrator.pid is not None:
            say("  stopping the orchestrator, then every user and server ...")
        self.orchestrator.stop()
        self._count_orchestrator()
        if self.simulation is not None:
            counts = self.simulation.stop()
            self.emitted.update(counts.emitted)
            self.faults.update(counts.faults)
            self.unconfirmed.update(self.simulation.unconfirmed)
            self.resent_ids = self.simulation.resent_ids
            write_ledger(self.settings, self.simulation.ledger)
            self.simulation = None

    def _count_orchestrator(self) -> None:
        from streamsim.orchestrator.main import read_counts

        every, killed = read_counts(self.settings)
        if not every.emitted:
            log.warning("the orchestrator left no counts for run %s", self.settings.run_id)
        self.emitted.update(every.emitted)
        self.unconfirmed.update(killed.unconfirmed())

    def _drain(self) -> RunSummary:
        from streamsim.pipeline.definitions import materialize_all

        say("  waiting for the sink to land every event ...")
        wait_for_sink(self.settings, SINK_CATCH_UP_S)
        self.sink.stop()
        say("  running the pipeline once more ...")
        outcome = materialize_all(self.settings)
        if not outcome.success:
            raise StackError("the last pipeline run failed; see the Dagster log above")
        return summarise(
            self.settings,
            self.emitted,
            self.started_at,
            self.faults,
            self.unconfirmed,
            self.resent_ids,
        )

    def _stop_everything(self) -> None:
        """Each part is stopped even when stopping another one failed: none outlives the run."""
        steps: list[tuple[str, Callable[[], None]]] = [
            (process.name, process.stop) for process in self._processes()
        ]
        if self.simulation is not None:
            # Stopping the head ends the actors; the launcher only lets go of the cluster.
            steps.insert(0, ("the simulators", self.simulation.disconnect))
        if self.ray_head is not None:
            steps.append(("the Ray head", self.ray_head.stop))
        if self.broker is not None:
            steps.append(("the Kafka broker", self.broker.stop))
        for what, stop in steps:
            try:
                stop()
            except Exception:
                log.exception("could not stop %s", what)
        self.simulation = None
        stack_file(self.settings).unlink(missing_ok=True)


def ledger_file(settings: Settings) -> Path:
    """Where a run leaves the simulators' own record of its sessions, plays and servers."""
    return settings.state / "runs" / settings.run_id / "ledger.json"


def write_ledger(settings: Settings, ledger: dict[str, list[dict[str, Any]]]) -> None:
    path = ledger_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(ledger, indent=1))
    say(f"  the simulators' ledger is in {path}")


def wait_for_sink(settings: Settings, timeout_s: float) -> None:
    from streamsim.sink import consumer_lag

    deadline = time.monotonic() + timeout_s
    lag = consumer_lag(settings)
    while sum(lag.values()) > 0:
        if time.monotonic() > deadline:
            say(f"  the sink is still {sum(lag.values())} events behind after {timeout_s:.0f} s")
            return
        time.sleep(1.0)
        lag = consumer_lag(settings)


def queryable(settings: Settings) -> str:
    counts = warehouse_counts(settings, settings.run_id)
    if counts is None:
        return "warehouse: waiting for the first pipeline run"
    return f"this run's events queryable {counts[0]}"


class StopRequest:
    """Ctrl-C or SIGTERM asks for a clean stop; the run then drains before it exits."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.install()

    def install(self) -> None:
        """Take both signals; again once the simulation has connected, as `ray.init` puts
        a SIGTERM handler of its own in place that ends the process without a drain."""
        signal.signal(signal.SIGINT, self._request)
        signal.signal(signal.SIGTERM, self._request)

    def _request(self, signum: int, _frame: FrameType | None) -> None:
        if not self.event.is_set():
            say(f"\n{signal.Signals(signum).name}: stopping cleanly (the run drains first)")
        self.event.set()


def run_until_stopped(stack: Stack, duration_s: float | None, stop: StopRequest) -> None:
    began = time.monotonic()
    next_report = began + PROGRESS_EVERY_S
    while not stop.event.wait(1.0):
        elapsed = time.monotonic() - began
        if duration_s is not None and elapsed >= duration_s:
            say(f"  {duration_s:.0f} s are up")
            return
        dead = stack.dead_parts()
        if dead:
            raise StackError(
                f"{', '.join(dead)} stopped unexpectedly; see {stack.settings.logs_dir}"
            )
        if stack.restart_dead_broker():
            say("  kafka had stopped; started it again")
        for name in stack.restart_dead_processes():
            say(f"  {name} had stopped; started it again")
        if stack.dashboards is not None:
            stack.dashboards.provision_when_ready()
        if time.monotonic() >= next_report:
            say(f"  [{elapsed:5.0f} s] {stack.progress()}")
            next_report += PROGRESS_EVERY_S


def up(settings: Settings, duration_s: float | None, summary_json: Path | None) -> int:
    with state_lock(settings):
        return _up(settings, duration_s, summary_json)


@contextmanager
def state_lock(settings: Settings) -> Iterator[None]:
    """One run per state folder: two would share a broker's data and a warehouse."""
    path = settings.state / "up.lock"
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise StackError(
                f"streamsim is already running with the state folder {settings.state} "
                f"({holder}); stop it first, or give this run another --state-dir"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"run {settings.run_id}, pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            # The file stays (removing it would race a run about to lock it); emptied, it
            # names no holder that has gone.
            handle.truncate(0)


def _up(settings: Settings, duration_s: float | None, summary_json: Path | None) -> int:
    stop = StopRequest()
    stack = Stack(settings)
    say(f"streamsim run {settings.run_id}: speed {settings.speed:g}x, state in {settings.state}")
    try:
        stack.start()
        stop.install()
        say("streamsim is up:")
        for name, url in stack.urls().items():
            say(f"  {name:<14} {url}")
        if stack.dashboards is not None:
            say(stack.dashboards.login_line())
        say("Ctrl-C stops it cleanly." if duration_s is None else f"Running {duration_s:g} s.")
        run_until_stopped(stack, duration_s, stop)
    except BaseException:
        stack.stop(drain=False)
        raise
    summary = stack.stop()
    return report(summary, summary_json)


def report(summary: RunSummary | None, summary_json: Path | None) -> int:
    if summary is None:
        return 1
    say("\nrun summary (events):")
    say(summary.table())
    if summary_json is not None:
        summary.write_json(summary_json)
        say(f"written to {summary_json}")
    for note in summary.notes:
        say(f"note: {note}")
    return 2 if summary.lost_total > 0 else 0
