"""A sink process fed random bytes and every fault kind: it runs on and accounts for each one.

Random messages go out on every topic the sink reads, with random keys and sometimes no value
at all. Each must come back exactly once: as an event or a truth row holding its text, or in
quarantine with its raw bytes and a reason the sink names. The faulty users' messages must add
up in the run summary, as `streamsim up` reports it.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from kafka import KafkaProducer
from sink_support import total_lag, wait_until
from test_sink_faults import send_faulty_sessions

from streamsim.events.topics import TOPICS, TRUTH_TOPIC
from streamsim.lake import UNREADABLE, events_glob, quarantine_glob, truth_glob
from streamsim.settings import Settings, load_settings
from streamsim.sink.records import QuarantineReason
from streamsim.stack.summary import summarise
from streamsim.users.faults import FaultKind

pytestmark = [pytest.mark.slow]

Sent = dict[tuple[str, int, int], bytes | None]  # (topic, partition, offset) -> value
_groups = itertools.count()


@dataclass
class SinkUnderTest:
    settings: Settings
    process: subprocess.Popen[bytes]
    log: Path

    def assert_running(self) -> None:
        assert self.process.poll() is None, f"the sink stopped; see {self.log}"


@pytest.fixture(scope="module")
def sink(broker_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """`python -m streamsim.sink` with a lake and a consumer group of its own."""
    state = tmp_path_factory.mktemp("bad-input-sink")
    chosen = load_settings(
        state_dir=state,
        kafka={"port": broker_settings.kafka.port},
        sink={"group_id": f"bad-input-{next(_groups)}-{state.name}", "batch_max_seconds": 0.5},
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMSIM_")}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    env.update(
        STREAMSIM_CONFIG=os.devnull,
        STREAMSIM_STATE_DIR=str(state),
        STREAMSIM_KAFKA__PORT=str(chosen.kafka.port),
        STREAMSIM_SINK__GROUP_ID=chosen.sink.group_id,
        STREAMSIM_SINK__BATCH_MAX_SECONDS="0.5",
    )
    log = state / "sink.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamsim.sink"], env=env, stdout=output, stderr=output
        )
    try:
        yield SinkUnderTest(chosen, process, log)
    finally:
        process.terminate()
        process.wait(60)


@pytest.fixture(scope="module")
def producer(broker_settings: Settings) -> Iterator[KafkaProducer]:
    """A plain producer: the test needs each message's offset, which the emitters keep."""
    made = KafkaProducer(bootstrap_servers=broker_settings.kafka.bootstrap, acks="all")
    try:
        yield made
    finally:
        made.close(timeout=30)


# What arrives on the wire when a client is broken or hostile: any bytes, text, JSON that is
# valid (big integers, NaN, escaped lone surrogates) or cut short, deep nesting, no value.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
payloads = st.one_of(
    st.binary(max_size=400),
    st.text(max_size=200).map(str.encode),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.tuples(st.dictionaries(st.text(), json_values, min_size=1), st.integers(1, 40)).map(
        lambda cut: json.dumps(cut[0]).encode()[: cut[1]]
    ),
    st.integers(1, 5000).map(lambda depth: b"[" * depth + b"]" * depth),
    st.none(),
)
messages = st.lists(
    st.tuples(
        st.sampled_from([t.name for t in TOPICS]), st.binary(max_size=16) | st.none(), payloads
    ),
    min_size=1,
    max_size=30,
)


@pytest.mark.timeout(150)
@settings(
    max_examples=15,
    derandomize=True,
    database=None,
    deadline=None,
    # Each example waits on the sink: shrinking a failure would outlast the test's timeout.
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=messages)
def test_random_messages_on_every_topic_each_land_once_or_are_quarantined_with_a_reason(
    sink: SinkUnderTest,
    producer: KafkaProducer,
    batch: list[tuple[str, bytes | None, bytes | None]],
) -> None:
    sent: Sent = {}
    for topic, key, value in batch:
        # A message without a value needs a key (a tombstone): Kafka refuses one with neither.
        key = b"" if key is None and value is None else key
        delivered = producer.send(topic, key=key, value=value).get(timeout=30)
        sent[(topic, delivered.partition, delivered.offset)] = value

    wait_until(lambda: set(sent) <= {row[0] for row in found(sink.settings, sent)}, 60, "landing")

    sink.assert_running()
    rows = found(sink.settings, sent)
    assert sorted(where for where, *_ in rows) == sorted(sent), "a message landed twice"
    for where, folder, kept, reason in rows:
        value = sent[where]
        if folder == "quarantine":
            assert reason in set(QuarantineReason) and kept == value
        elif folder == "events":
            assert value is not None and kept == value.decode()
        assert (folder == "truth") == (where[0] == TRUTH_TOPIC.name and reason is None)


Row = tuple[tuple[str, int, int], str, Any, Any]


def found(settings: Settings, sent: Sent) -> list[Row]:
    """Each lake row of a sent message: its folder, what it keeps of the value, the reason."""
    lake = settings.lake_dir
    wanted = [list(key) for key in sent]
    kept: list[Row] = []
    queries = {
        "events": (events_glob(lake), "body, NULL"),
        "truth": (truth_glob(lake), "NULL, NULL"),
        "quarantine": (quarantine_glob(lake), "raw, reason"),
    }
    with duckdb.connect() as db:
        db.execute("CREATE TABLE wanted (topic TEXT, p INT, o BIGINT)")
        db.executemany("INSERT INTO wanted VALUES (?, ?, ?)", wanted)
        for folder, (glob, columns) in queries.items():
            if not list(lake.glob(f"{folder}/**/*.parquet")):
                continue
            rows = db.execute(
                f"SELECT lake.topic, kafka_partition, kafka_offset, {columns} "
                f"FROM read_parquet('{glob}', union_by_name => true) AS lake "
                "JOIN wanted ON lake.topic = wanted.topic AND kafka_partition = p "
                "AND kafka_offset = o"
            ).fetchall()
            for topic, partition, offset, text, reason in rows:
                kept.append(((topic, partition, offset), folder, text, reason))
    return kept


@pytest.mark.timeout(150)
def test_every_fault_kind_is_landed_or_quarantined_and_the_run_summary_adds_up(
    sink: SinkUnderTest,
) -> None:
    run_id, run_started = f"run-{uuid.uuid4()}", datetime.now(UTC)
    bootstrap = sink.settings.kafka.bootstrap
    users, truth = send_faulty_sessions(bootstrap, run_id)
    emitted = Counter(users.counts()["emitted"])
    injected = Counter(truth.counts()["emitted"])
    assert set(injected) == set(FaultKind)

    wait_until(lambda: total_lag(sink.settings) == 0, 120, "the sink to catch up")

    sink.assert_running()
    summary = summarise(sink.settings.model_copy(update={"run_id": run_id}), emitted, run_started)
    assert summary.lost_total == 0, summary.table()
    assert sum(summary.landed.values()) + sum(summary.quarantined.values()) == sum(emitted.values())
    assert summary.quarantined.get(UNREADABLE, 0) == emitted[UNREADABLE] > 0
    assert summary.duplicates == {}
