"""The emitter's own count: every event it is given ends as delivered or failed."""

from __future__ import annotations

from typing import Any

import pytest
from kafka.errors import KafkaTimeoutError

from streamsim.bus import emitter as emitter_module
from streamsim.bus.emitter import Emitter
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
