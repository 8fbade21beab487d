"""A Kafka producer that counts, per event type, what it was given and what Kafka took.

An emitter writes one topic: a source's event topic, or a topic named outright (the fault
truth, whose records it counts by fault kind).

An emitter whose process may be killed (the orchestrator, a server) can keep its counts in a
file as it goes (`counts_file`), so that what it sent is still known after a SIGKILL.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaProducer
from kafka.errors import KafkaError

from streamsim.bus.outbox import Outbox
from streamsim.events.envelope import Source
from streamsim.events.topics import Topic, partition_key, topic_for

log = logging.getLogger(__name__)

# How long an event may wait for Kafka, retries included, before it is counted as failed:
# long enough to ride out a broker restart, short enough that a run's end is not held up.
DELIVERY_TIMEOUT_MS = 120_000


@dataclass
class EmitCounts:
    """What emitters did: `emitted` is the simulators' own count of events.

    `faults` counts, by kind, the faults the users injected (their truth records), for the
    emitters of users; it stays empty for the others.
    """

    emitted: Counter[str] = field(default_factory=Counter)
    delivered: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, dict[str, int]]:
        counts = {
            "emitted": dict(self.emitted),
            "delivered": dict(self.delivered),
            "failed": dict(self.failed),
        }
        if self.faults:
            counts["faults"] = dict(self.faults)
        return counts

    def add(self, other: dict[str, dict[str, int]]) -> None:
        self.emitted.update(other.get("emitted", {}))
        self.delivered.update(other.get("delivered", {}))
        self.failed.update(other.get("failed", {}))
        self.faults.update(other.get("faults", {}))

    def unconfirmed(self) -> Counter[str]:
        """Events Kafka had neither taken nor refused yet: in flight, or died in flight."""
        pending = self.emitted - self.delivered - self.failed
        return +pending


def save_counts(path: Path, counts: dict[str, Any]) -> None:
    """Replace the file whole, so a reader never sees half of it.

    No fsync: the page cache outlives a killed process, which is the fault this guards
    against; a machine that loses power loses the run's broker and lake too.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(counts, sort_keys=True))
    os.replace(partial, path)


class Emitter:
    """Sends to one topic (a source's events, or the fault truth); safe from any thread."""

    def __init__(
        self,
        bootstrap_servers: str,
        target: Source | Topic,
        counts_file: Path | None = None,
        outbox: Outbox | None = None,
    ) -> None:
        topic = target if isinstance(target, Topic) else topic_for(target)
        self._topic = topic.name
        client = topic.source or topic.name.rpartition(".")[2]
        self._counts = EmitCounts()
        self._lock = threading.Lock()
        self._counts_file = counts_file
        self._outbox = outbox
        self._producer = KafkaProducer(
            bootstrap_servers=bootstrap_servers,
            acks="all",
            linger_ms=20,
            # A broker that restarts (half a minute on a busy machine) must not cost events:
            # retry until the delivery bound, and let the broker drop the copies a retry of
            # an already written batch would add (idempotence: one event, one offset).
            enable_idempotence=True,
            delivery_timeout_ms=DELIVERY_TIMEOUT_MS,
            max_in_flight_requests_per_connection=1,  # keeps one session's events in order
            # send() blocks the caller's event loop while it waits for metadata or buffer
            # room; a few seconds, then the event is counted as failed instead.
            max_block_ms=5_000,
            client_id=f"streamsim-{client}",
        )

    def emit(self, event: dict[str, Any]) -> None:
        event_type = str(event.get("event_type"))
        event_id = event.get("event_id")
        self.emit_bytes(
            orjson.dumps(event),
            partition_key(event),
            event_type,
            event_id=event_id if isinstance(event_id, str) else None,
        )

    def emit_bytes(
        self, payload: bytes, key: bytes, event_type: str, *, event_id: str | None = None
    ) -> None:
        """Send bytes as they are, counted under `event_type`.

        The faults users inject go out this way, exactly as broken: bytes nobody can parse
        are counted as `unreadable` (`streamsim.lake.UNREADABLE`), as the sink counts them.
        """
        # Counted, and saved, before Kafka sees it: a process killed after the broker took an
        # event but before its callback ran still has that event counted. The other side of
        # the window (counted, then killed before Kafka answered) shows as `unconfirmed` in
        # the file; with an outbox, whoever sees the death sends those again. What is left is
        # a kill between the two writes below (microseconds): one event counted, never sent.
        with self._lock:
            self._counts.emitted[event_type] += 1
            self._save()
        number = self._outbox.sent(event_id, event_type, key, payload) if self._outbox else -1
        try:
            future = self._producer.send(self._topic, value=payload, key=key)
        except KafkaError as error:  # no metadata or no buffer room in time, or closed
            self._on_failed(event_type, number, error)
            return
        future.add_callback(self._on_delivered, event_type, number)
        future.add_errback(self._on_failed, event_type, number)

    def _on_delivered(self, event_type: str, number: int, _metadata: object) -> None:
        with self._lock:
            self._counts.delivered[event_type] += 1
            self._save()
        if self._outbox is not None:
            self._outbox.settled(number)

    def _on_failed(self, event_type: str, number: int, error: BaseException) -> None:
        with self._lock:
            self._counts.failed[event_type] += 1
            self._save()
        if self._outbox is not None:  # counted as failed, so as lost: never sent again
            self._outbox.settled(number, failed=True)
        log.warning("could not deliver a %s event: %s", event_type, error)

    def _save(self) -> None:
        """Called with the lock held, so the file only ever moves forward."""
        if self._counts_file is not None:
            save_counts(self._counts_file, self._counts.as_dict())

    def counts(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return self._counts.as_dict()

    def close(self, timeout_s: float = 30.0) -> None:
        self._producer.flush(timeout=timeout_s)
        self._producer.close(timeout=timeout_s)
        if self._outbox is not None:
            with self._lock:
                settled = not self._counts.unconfirmed()
            self._outbox.close(forget=settled)
