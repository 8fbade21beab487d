"""The emitter's own count: every event it is given ends as delivered or failed."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kafka.errors import KafkaTimeoutError

from streamsim.bus import emitter as emitter_module
from streamsim.bus.emitter import EmitCounts, Emitter
from streamsim.events import Source


class ProducerWithNoBroker:
    """Stands in for KafkaProducer where send() gives up waiting for metadata."""

    def __init__(self, **_: Any) -> None:
        pass

    def send(self, topic: str, value: bytes, key: bytes) -> None:
        raise KafkaTimeoutError("Failed to update metadata after 5.0 secs.")


def test_an_event_kafka_would_not_take_is_counted_as_failed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(emitter_module, "KafkaProducer", ProducerWithNoBroker)
    emitter = Emitter("127.0.0.1:1", Source.SERVER)

    emitter.emit({"event_type": "stream_heartbeat", "session_id": "s-1"})

    assert emitter.counts() == {
        "emitted": {"stream_heartbeat": 1},
        "delivered": {},
        "failed": {"stream_heartbeat": 1},
    }


class DeliveredLater:
    """A send's future: the test decides when Kafka confirms it."""

    def __init__(self) -> None:
        self.callbacks: list[Any] = []

    def add_callback(self, callback: Any, *args: Any) -> None:
        self.callbacks.append(lambda: callback(*args, None))

    def add_errback(self, _errback: Any, *_args: Any) -> None:
        pass

    def confirm(self) -> None:
        for callback in self.callbacks:
            callback()


@dataclass
class KafkaStandIn:
    """Records what the counts file said at the moment each event was handed to Kafka."""

    counts_file: Path
    seen_at_send: list[dict[str, Any]] = field(default_factory=list)
    futures: list[DeliveredLater] = field(default_factory=list)

    def producer(self, **_: Any) -> KafkaStandIn:
        return self

    def send(self, topic: str, value: bytes, key: bytes) -> DeliveredLater:
        self.seen_at_send.append(json.loads(self.counts_file.read_text()))
        self.futures.append(DeliveredLater())
        return self.futures[-1]


def test_an_event_is_counted_in_the_file_before_kafka_is_given_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    kafka = KafkaStandIn(tmp_path / "counts" / "one.json")
    monkeypatch.setattr(emitter_module, "KafkaProducer", kafka.producer)
    emitter = Emitter("127.0.0.1:1", Source.ORCHESTRATOR, kafka.counts_file)

    emitter.emit({"event_type": "settings_changed", "session_id": None})

    assert kafka.seen_at_send == [
        {"emitted": {"settings_changed": 1}, "delivered": {}, "failed": {}}
    ]


def test_the_counts_file_says_what_kafka_confirmed_and_what_it_had_not_yet(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    kafka = KafkaStandIn(tmp_path / "one.json")
    monkeypatch.setattr(emitter_module, "KafkaProducer", kafka.producer)
    emitter = Emitter("127.0.0.1:1", Source.ORCHESTRATOR, kafka.counts_file)
    for _ in range(3):
        emitter.emit({"event_type": "settings_changed", "session_id": None})

    kafka.futures[0].confirm()

    saved = EmitCounts()
    saved.add(json.loads(kafka.counts_file.read_text()))
    assert saved.delivered == {"settings_changed": 1}
    assert saved.unconfirmed() == {"settings_changed": 2}


def test_unconfirmed_leaves_out_types_that_kafka_settled() -> None:
    counts = EmitCounts()
    counts.add({"emitted": {"a": 2, "b": 1}, "delivered": {"a": 1, "b": 1}, "failed": {"a": 1}})

    assert counts.unconfirmed() == {}
