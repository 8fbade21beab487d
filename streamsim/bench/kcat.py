"""The sink against kcat's raw read of the same topic: events per second, and the ratio.

Starts a Kafka broker of its own on free loopback ports (in a temporary folder), fills the
user-event topic with heartbeats shaped as the users send them, then reads it whole twice:
once with Debian's `kcat` (librdkafka, in C) writing every payload to a file, once with the
real sink (`python -m streamsim.sink`, its own consumer group) writing the lake. kcat only
reads; the sink also parses, validates, writes Parquet and commits. Each figure is the wall
time from start to the last message, start-up included, with the CPU seconds beside it.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import psutil

from streamsim.bus.emitter import Emitter
from streamsim.errors import StreamsimError
from streamsim.events import EventType, Source, new_event
from streamsim.events.topics import topic_for
from streamsim.settings import Settings, load_settings
from streamsim.sink.lag import consumer_lag
from streamsim.stack.broker import running_broker
from streamsim.stack.isolated import isolated_env
from streamsim.stack.processes import free_port

DESCRIPTION = "events per second: the sink vs kcat reading the same pre-filled topic"
READ_TIMEOUT_S = 900.0


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=200_000, help="messages on the topic")


def kcat_binary() -> str:
    found = shutil.which("kcat")
    if found is None:
        raise StreamsimError(
            "kcat is not installed: `make kcat` installs Debian's package "
            "(or `apt-get install kcat` as root)"
        )
    return found


def run(settings: Any, options: argparse.Namespace) -> dict[str, Any]:
    kcat = kcat_binary()
    if options.events < 1:
        raise StreamsimError(f"--events must be 1 or more, not {options.events}")
    with tempfile.TemporaryDirectory(prefix="bench-kcat-") as scratch:
        state = Path(scratch)
        ports = {"port": free_port(), "controller_port": free_port()}
        with running_broker(load_settings(state_dir=state / "state", kafka=ports)) as broker:
            progress(f"filling the topic with {options.events:,} events ...")
            fill(broker, options.events)
            load_before = os.getloadavg()[:3]
            progress("kcat reads it ...")
            by_kcat = read_with_kcat(kcat, broker, options.events, state / "kcat.out")
            progress("the sink reads it ...")
            by_sink = read_with_sink(broker, options.events)
    return {
        "setup": {"events": options.events, "load_average_before": load_before},
        "kcat": by_kcat,
        "sink": by_sink,
        "kcat_over_sink": round(by_kcat["events_per_s"] / by_sink["events_per_s"], 2),
        "load_average_after": os.getloadavg()[:3],
    }


def topic_name() -> str:
    return topic_for(Source.USER).name


def fill(settings: Settings, events: int) -> None:
    """Heartbeats as a user sends them, keyed by session as the users key them."""
    emitter = Emitter(settings.kafka.bootstrap, Source.USER)
    now = time.time()
    for index in range(events):
        session = f"s{index % 500}"
        event = new_event(
            EventType.HEARTBEAT,
            Source.USER,
            site_time=now,
            run_id="bench-kcat",
            user_id=f"u-{index % 500}",
            session_id=session,
            video_id=f"v{index % 2000}",
            position_s=float(index % 600),
            stream_id=f"st-{index % 500}",
        )
        emitter.emit_bytes(orjson.dumps(event), session.encode(), event["event_type"])
    emitter.close()
    if emitter.counts().get("failed"):
        raise StreamsimError(f"filling the topic failed: {emitter.counts()['failed']}")


def read_with_kcat(kcat: str, settings: Settings, events: int, out: Path) -> dict[str, Any]:
    command = [
        kcat,
        *("-C", "-b", settings.kafka.bootstrap, "-t", topic_name()),
        *("-o", "beginning", "-e", "-q", "-f", "%s\n"),
    ]
    cpu_before = _children_cpu_s()
    began = time.monotonic()
    with out.open("wb") as sink:
        done = subprocess.run(command, stdout=sink, stderr=subprocess.PIPE, timeout=READ_TIMEOUT_S)
    took = time.monotonic() - began
    if done.returncode != 0:
        raise StreamsimError(f"kcat failed: {done.stderr.decode(errors='replace')[-500:]}")
    with out.open("rb") as written:
        read = sum(1 for _ in written)
    if read != events:
        raise StreamsimError(f"kcat read {read} messages, not the {events} on the topic")
    return _figures(events, took, _children_cpu_s() - cpu_before)


def read_with_sink(settings: Settings, events: int) -> dict[str, Any]:
    group = f"bench-kcat-{uuid.uuid4().hex[:8]}"
    env = isolated_env(
        settings.state, {"KAFKA__PORT": settings.kafka.port, "SINK__GROUP_ID": group}
    )
    watched = load_settings(
        state_dir=settings.state, kafka={"port": settings.kafka.port}, sink={"group_id": group}
    )
    began = time.monotonic()
    sink = subprocess.Popen([sys.executable, "-m", "streamsim.sink"], env=env)
    try:
        took, cpu_s = _until_read(sink, watched, began)
    finally:
        sink.terminate()
        sink.wait(timeout=60)
    return _figures(events, took, cpu_s)


def _until_read(
    sink: subprocess.Popen[bytes], settings: Settings, began: float
) -> tuple[float, float]:
    """Wall seconds until the group has committed every message, and the sink's CPU then."""
    process = psutil.Process(sink.pid)
    while time.monotonic() - began < READ_TIMEOUT_S:
        if sink.poll() is not None:
            raise StreamsimError(f"the sink exited ({sink.returncode}) before reading it all")
        if _committed_all(settings):
            took = time.monotonic() - began
            times = process.cpu_times()
            return took, times.user + times.system
        time.sleep(0.2)
    raise StreamsimError(f"the sink had not read the topic after {READ_TIMEOUT_S:.0f} s")


def _committed_all(settings: Settings) -> bool:
    lag = consumer_lag(settings)
    return lag.get(topic_name(), 1) == 0 and sum(lag.values()) == 0


def _figures(events: int, took: float, cpu_s: float) -> dict[str, Any]:
    return {
        "wall_s": round(took, 2),
        "events_per_s": round(events / took),
        "cpu_s": round(cpu_s, 2),
        "events_per_cpu_s": round(events / cpu_s) if cpu_s > 0 else None,
    }


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
