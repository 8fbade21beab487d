"""A Kafka producer that counts, per event type, what it was given and what Kafka took.

An emitter writes one topic: a source's event topic, or a topic named outright (the fault
truth, whose records it counts by fault kind).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson
from kafka import KafkaProducer
from kafka.errors import KafkaError

from streamsim.events.envelope import Source
from streamsim.events.topics import Topic, partition_key, topic_for

log = logging.getLogger(__name__)


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


class Emitter:
    """Sends to one topic (a source's events, or the fault truth); safe from any thread."""

    def __init__(self, bootstrap_servers: str, target: Source | Topic) -> None:
        topic = target if isinstance(target, Topic) else topic_for(target)
        self._topic = topic.name
        client = topic.source or topic.name.rpartition(".")[2]
        self._counts = EmitCounts()
        self._lock = threading.Lock()
        self._producer = KafkaProducer(
            bootstrap_servers=bootstrap_servers,
            acks="all",
            linger_ms=20,
            retries=10,
            max_in_flight_requests_per_connection=1,  # keeps one session's events in order
            # send() blocks the caller's event loop while it waits for metadata or buffer
            # room; a few seconds, then the event is counted as failed instead.
            max_block_ms=5_000,
            client_id=f"streamsim-{client}",
        )

    def emit(self, event: dict[str, Any]) -> None:
        event_type = str(event.get("event_type"))
        self.emit_bytes(orjson.dumps(event), partition_key(event), event_type)

    def emit_bytes(self, payload: bytes, key: bytes, event_type: str) -> None:
        """Send bytes as they are, counted under `event_type`.

        The faults users inject go out this way, exactly as broken: bytes nobody can parse
        are counted as `unreadable` (`streamsim.lake.UNREADABLE`), as the sink counts them.
        """
        with self._lock:
            self._counts.emitted[event_type] += 1
        try:
            future = self._producer.send(self._topic, value=payload, key=key)
        except KafkaError as error:  # no metadata or no buffer room in time, or closed
            self._on_failed(event_type, error)
            return
        future.add_callback(self._on_delivered, event_type)
        future.add_errback(self._on_failed, event_type)

    def _on_delivered(self, event_type: str, _metadata: object) -> None:
        with self._lock:
            self._counts.delivered[event_type] += 1

    def _on_failed(self, event_type: str, error: BaseException) -> None:
        with self._lock:
            self._counts.failed[event_type] += 1
        log.warning("could not deliver a %s event: %s", event_type, error)

    def counts(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return self._counts.as_dict()

    def close(self, timeout_s: float = 30.0) -> None:
        self._producer.flush(timeout=timeout_s)
        self._producer.close(timeout=timeout_s)
