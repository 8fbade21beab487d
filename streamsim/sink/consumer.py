"""The sink's loop: read a batch from Kafka, land it in the lake, then commit its offsets.

Committing only after the files are on disk makes delivery at-least-once: a sink killed
mid-batch leaves its offsets behind, and the next one reads those messages again. The
warehouse removes the duplicates by `event_id`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

# Imported from their modules: the repo's own `kafka/` folder (the broker's jars) would
# otherwise shadow the package's top level for mypy.
from kafka.consumer.fetcher import ConsumerRecord
from kafka.consumer.group import KafkaConsumer
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import CommitFailedError
from kafka.structs import OffsetAndMetadata, TopicPartition

from streamsim.bus.topics import ensure_topics
from streamsim.events.topics import TOPICS
from streamsim.lake import MISSING_EVENT_TYPE
from streamsim.settings import Settings
from streamsim.sink.files import remove_stale_temporaries, write_rows
from streamsim.sink.records import EventRow, Message, QuarantineRow, TruthRow, classify
from streamsim.sink.status import (
    SinkReport,
    status_path,
    utc_now_text,
    write_status,
)

log = logging.getLogger(__name__)

POLL_TIMEOUT_S = 0.5
# An idle sink still rewrites its status now and then, so a reader can tell it is alive.
IDLE_STATUS_S = 10.0
# kafka-python's default of 45 s would leave a killed sink's partitions unread that long
# after its restart; its heartbeats run on their own thread, so 10 s is safe.
SESSION_TIMEOUT_MS = 10_000


@dataclass
class Batch:
    """Rows read since the last commit, and the offsets that committing them will store."""

    events: list[EventRow] = field(default_factory=list)
    quarantined: list[QuarantineRow] = field(default_factory=list)
    truth: list[TruthRow] = field(default_factory=list)
    next_offsets: dict[TopicPartition, int] = field(default_factory=dict)
    started: float = 0.0

    def __len__(self) -> int:
        return len(self.events) + len(self.quarantined) + len(self.truth)

    def add(self, partition: TopicPartition, records: Iterable[ConsumerRecord]) -> None:
        if not self:
            self.started = time.monotonic()
        ingested_at = datetime.now(UTC)
        last = -1
        for record in records:
            message = Message(
                record.topic, record.partition, record.offset, record.key, record.value
            )
            row = classify(message, ingested_at)
            if isinstance(row, EventRow):
                self.events.append(row)
            elif isinstance(row, TruthRow):
                self.truth.append(row)
            else:
                self.quarantined.append(row)
            last = record.offset
        if last >= 0:
            self.next_offsets[partition] = last + 1

    def age_s(self) -> float:
        return time.monotonic() - self.started if self else 0.0


class Sink:
    """One consumer's batches, counts and commits; `run` drives it until told to stop."""

    def __init__(self, settings: Settings, consumer: KafkaConsumer) -> None:
        self._settings = settings.sink
        self._lake = settings.lake_dir
        self._status = status_path(settings)
        self._consumer = consumer
        self._batch = Batch()
        self._last_status = 0.0
        self.report = SinkReport()

    def run(self, stop: threading.Event) -> SinkReport:
        self.report.state = "running"
        self._write_status()
        while not stop.is_set():
            self._poll()
            if self._batch_is_due():
                self.flush()
            elif time.monotonic() - self._last_status > IDLE_STATUS_S:
                self._write_status()
        self.flush()
        return self.report

    def _poll(self) -> None:
        room = self._settings.batch_max_events - len(self._batch)
        timeout_s = min(POLL_TIMEOUT_S, self._settings.batch_max_seconds - self._batch.age_s())
        polled: Mapping[TopicPartition, Sequence[ConsumerRecord]] = self._consumer.poll(
            timeout_ms=max(0, int(timeout_s * 1000)), max_records=max(1, room)
        )
        for partition, records in polled.items():
            self.report.messages_read += len(records)
            self._batch.add(partition, records)

    def _batch_is_due(self) -> bool:
        size = len(self._batch)
        return size >= self._settings.batch_max_events or (
            size > 0 and self._batch.age_s() >= self._settings.batch_max_seconds
        )

    def flush(self) -> None:
        """Land the batch, then commit it; also called when Kafka takes partitions away."""
        batch, self._batch = self._batch, Batch()
        if not batch.next_offsets:
            return
        began = time.monotonic()
        files = write_rows(self._lake, batch.events, batch.quarantined, batch.truth)
        self._commit(batch.next_offsets)
        self._count(batch, len(files), time.monotonic() - began)
        self._write_status()
        log.debug("landed %s events and %s quarantined", len(batch.events), len(batch.quarantined))

    def _commit(self, next_offsets: dict[TopicPartition, int]) -> None:
        offsets = {tp: OffsetAndMetadata(offset, "", -1) for tp, offset in next_offsets.items()}
        try:
            self._consumer.commit(offsets)
        except CommitFailedError as error:
            # The group moved the partitions on; their new owner re-reads what we landed,
            # which makes duplicates, never losses.
            self.report.commits_failed += 1
            log.warning("offsets not committed after a rebalance: %s", error)
            return
        self.report.last_commit_at = utc_now_text()

    def _count(self, batch: Batch, files: int, seconds: float) -> None:
        report = self.report
        report.batches += 1
        report.files_written += files
        report.last_batch_events = len(batch)
        report.last_batch_seconds = seconds
        report.events_landed.update(row.event_type or MISSING_EVENT_TYPE for row in batch.events)
        report.quarantined.update(str(row.reason) for row in batch.quarantined)
        report.truth_landed += len(batch.truth)
        if report.batches % 100 == 0:
            log.info(
                "sink: %s messages read, %s events landed, %s quarantined, %s files",
                report.messages_read,
                report.events_total,
                report.quarantined_total,
                report.files_written,
            )

    def _write_status(self) -> None:
        write_status(self._status, self.report)
        self._last_status = time.monotonic()


class FlushOnRevoke(ConsumerRebalanceListener):
    """Commit what was read before Kafka hands partitions to another sink of the group."""

    def __init__(self, sink: Sink) -> None:
        self._sink = sink

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        self._sink.flush()

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        log.info("sink assigned %s partitions", len(list(assigned)))


def new_consumer(settings: Settings) -> KafkaConsumer:
    return KafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap,
        group_id=settings.sink.group_id,
        client_id="streamsim-sink",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=SESSION_TIMEOUT_MS,
    )


def run_sink(settings: Settings, stop: threading.Event) -> SinkReport:
    """Land every event of the event topics, and the fault truth, until `stop` is set."""
    ensure_topics(settings.kafka)
    remove_stale_temporaries(settings.lake_dir)
    consumer = new_consumer(settings)
    sink = Sink(settings, consumer)
    try:
        consumer.subscribe([topic.name for topic in TOPICS], listener=FlushOnRevoke(sink))
        report = sink.run(stop)
    finally:
        consumer.close(autocommit=False)
    report.state = "stopped"
    write_status(status_path(settings), report)
    log.info(
        "sink stopped: %s messages read, %s events landed, %s quarantined, %s files written",
        report.messages_read,
        report.events_total,
        report.quarantined_total,
        report.files_written,
    )
    return report
