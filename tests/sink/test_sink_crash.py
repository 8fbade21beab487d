"""A sink process killed with SIGKILL mid-stream loses nothing once it is started again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from sink_support import SinkSettingsFactory, produce_events, total_lag, wait_until

from streamsim.settings import Settings
from streamsim.sink import read_status

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def start_sink_process(settings: Settings, log_path: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    env.update(
        STREAMSIM_CONFIG=os.devnull,
        STREAMSIM_STATE_DIR=str(settings.state),
        STREAMSIM_KAFKA__PORT=str(settings.kafka.port),
        STREAMSIM_SINK__GROUP_ID=settings.sink.group_id,
        STREAMSIM_SINK__BATCH_MAX_EVENTS=str(settings.sink.batch_max_events),
    )
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "streamsim.sink"], env=env, stdout=log, stderr=log
        )


def messages_read(settings: Settings) -> int:
    status = read_status(settings) or {}
    return int(status.get("messages_read", 0))


def test_a_sink_killed_mid_stream_loses_no_event_after_a_restart(
    sink_settings: SinkSettingsFactory, tmp_path: Path
) -> None:
    settings = sink_settings(batch_max_events=2000)
    run_id = f"run-{uuid.uuid4()}"
    sent = produce_events(settings.kafka.bootstrap, run_id, 40_000)
    log_path = tmp_path / "sink.log"

    first = start_sink_process(settings, log_path)
    try:
        wait_until(lambda: messages_read(settings) >= 6000, 120, "the first batches to land")
    finally:
        first.kill()
        first.wait(timeout=30)
    assert total_lag(settings) > 0, "the sink finished before it could be killed"

    second = start_sink_process(settings, log_path)
    try:
        wait_until(lambda: total_lag(settings) == 0, 150, "the restarted sink to catch up")
    finally:
        second.send_signal(signal.SIGTERM)
        exit_code = second.wait(timeout=60)
    assert exit_code == 0, log_path.read_text()

    event_files = sorted((settings.lake_dir / "events").rglob("*.parquet"))
    for path in event_files:
        pq.read_metadata(path)  # every visible file is whole
    table = ds.dataset(settings.lake_dir / "events", format="parquet").to_table(
        columns=["event_id", "run_id"]
    )
    landed = Counter(
        event_id
        for event_id, run in zip(
            table.column("event_id").to_pylist(), table.column("run_id").to_pylist(), strict=True
        )
        if run == run_id
    )
    missing = set(sent) - set(landed)
    duplicates = sum(landed.values()) - len(landed)
    print(f"crash test: {len(landed)} events landed, {duplicates} duplicates, 0 missing")
    assert not missing, f"{len(missing)} events missing after the crash"
    assert set(landed) == set(sent)
