"""Topics are bounded by age and by size, on the topic and as the local broker's default."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamsim.bus.topics import retention_configs
from streamsim.settings import KafkaSettings
from streamsim.stack.broker import server_properties

pytestmark = pytest.mark.timeout(10)


def test_every_topic_is_bounded_by_age_and_by_bytes_per_partition() -> None:
    kafka = KafkaSettings(retention_hours=2, retention_bytes=64 << 20)

    assert retention_configs(kafka) == {
        "retention.ms": str(2 * 3600 * 1000),
        "retention.bytes": str(64 << 20),
    }


def test_the_local_broker_bounds_topics_it_did_not_create_the_same_way(tmp_path: Path) -> None:
    kafka = KafkaSettings(retention_hours=2, retention_bytes=64 << 20)

    lines = server_properties(kafka, tmp_path).splitlines()

    assert "log.retention.hours=2" in lines
    assert f"log.retention.bytes={64 << 20}" in lines
