"""Creating the topics with explicit partition counts, and waiting for a broker."""

from __future__ import annotations

import logging
import time

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from streamsim.errors import StreamsimError
from streamsim.events.topics import TOPICS
from streamsim.settings import KafkaSettings

log = logging.getLogger(__name__)


class BrokerUnreachable(StreamsimError):
    """No Kafka broker answered at the configured address in time."""


def wait_for_broker(bootstrap: str, timeout_s: float = 60.0) -> KafkaAdminClient:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return KafkaAdminClient(bootstrap_servers=bootstrap, client_id="streamsim-admin")
        except KafkaError as error:
            if time.monotonic() > deadline:
                raise BrokerUnreachable(
                    f"no Kafka broker answered at {bootstrap} within {timeout_s:.0f} s "
                    f"({error}); check KAFKA_BOOTSTRAP_SERVERS or start the broker"
                ) from error
            time.sleep(0.5)


def retention_configs(kafka: KafkaSettings) -> dict[str, str]:
    """Bound every topic by age and by size, so a long run cannot fill the disk."""
    return {
        "retention.ms": str(kafka.retention_hours * 3600 * 1000),
        "retention.bytes": str(kafka.retention_bytes),
    }


def ensure_topics(kafka: KafkaSettings) -> list[str]:
    """Create any missing topic; returns the names of those it created."""
    # A cluster named by the user should already be up: a short wait says so sooner.
    admin = wait_for_broker(kafka.bootstrap, timeout_s=60.0 if kafka.is_local else 15.0)
    try:
        existing = set(admin.list_topics())
        configs = retention_configs(kafka)
        missing = [
            NewTopic(
                name=topic.name,
                num_partitions=topic.partitions or kafka.partitions,
                replication_factor=kafka.replication_factor,
                topic_configs=configs,
            )
            for topic in TOPICS
            if topic.name not in existing
        ]
        kept = [topic.name for topic in TOPICS if topic.name in existing]
        if kept and kafka.is_local:
            # A changed retention setting applies to our own broker's older topics too; a
            # cluster someone else runs keeps the configs its owners gave its topics.
            admin.alter_configs([ConfigResource("TOPIC", name, configs=configs) for name in kept])
        if missing:
            try:
                admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # another process created it between our look and our call
        created = [topic.name for topic in missing]
        log.info("topics created: %s", created or "none (all existed)")
        return created
    finally:
        admin.close()
