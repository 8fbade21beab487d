"""Measure the sink end to end: events per second from a full topic to zero lag, and RSS.

Run by hand, not by pytest: `python tests/sink/bench_sink.py --events 200000`. It starts
its own broker on free loopback ports and stops it when done.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path

import psutil

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import kafka.admin  # noqa: F401

from sink_support import produce_events, total_lag

from streamsim.settings import Settings, load_settings
from streamsim.stack.broker import running_broker
from streamsim.stack.processes import free_port


def sink_env(settings: Settings, batch_max_events: int) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    env.update(
        STREAMSIM_CONFIG=os.devnull,
        STREAMSIM_STATE_DIR=str(settings.state),
        STREAMSIM_KAFKA__PORT=str(settings.kafka.port),
        STREAMSIM_SINK__BATCH_MAX_EVENTS=str(batch_max_events),
        STREAMSIM_SINK__GROUP_ID=f"bench-{uuid.uuid4()}",
    )
    return env


def measure(settings: Settings, events: int, batch_max_events: int) -> None:
    env = sink_env(settings, batch_max_events)
    lag_settings = load_settings(
        state_dir=settings.state,
        kafka={"port": settings.kafka.port},
        sink={"group_id": env["STREAMSIM_SINK__GROUP_ID"]},
    )
    began = time.monotonic()
    sink = subprocess.Popen([sys.executable, "-m", "streamsim.sink"], env=env)
    peak_rss = 0
    try:
        process = psutil.Process(sink.pid)
        while total_lag(lag_settings) > 0:
            peak_rss = max(peak_rss, process.memory_info().rss)
            time.sleep(2.0)
        took = time.monotonic() - began
    finally:
        sink.send_signal(signal.SIGTERM)
        sink.wait(timeout=60)
    print(
        f"batch_max_events={batch_max_events}: {events} events in {took:.1f} s "
        f"= {events / took:,.0f} events/s (includes ~1 s start-up), "
        f"peak RSS {peak_rss / 2**20:.0f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, action="append", default=[])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as state:
        kafka = {"port": free_port(), "controller_port": free_port()}
        with running_broker(load_settings(state_dir=Path(state), kafka=kafka)) as settings:
            began = time.monotonic()
            produce_events(settings.kafka.bootstrap, "bench", args.events, spacing_s=0.05)
            print(f"produced {args.events} events in {time.monotonic() - began:.1f} s")
            for batch in args.batch or [20_000]:
                measure(settings, args.events, batch)


if __name__ == "__main__":
    main()
