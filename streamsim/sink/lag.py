"""How far the sink group is behind the end of each event topic, asked without joining it.

Joining the group would take partitions away from the running sink, so this reads the
group's committed offsets through the admin API and the end offsets through a consumer
that belongs to no group.
"""

from __future__ import annotations

import logging
import time

# Imported from their modules: the repo's own `kafka/` folder would shadow the top level.
from kafka.admin import KafkaAdminClient
from kafka.consumer.group import KafkaConsumer
from kafka.errors import KafkaError
from kafka.structs import TopicPartition

from streamsim.events.topics import TOPICS
from streamsim.settings import Settings

log = logging.getLogger(__name__)

# A new broker creates its offsets topic on first use and answers "coordinator not
# available" until then; that, and leader moves, pass within seconds.
RETRY_FOR_S = 30.0


def topic_partitions(consumer: KafkaConsumer, topic: str) -> list[TopicPartition]:
    found = consumer.partitions_for_topic(topic) or set()
    return [TopicPartition(topic, partition) for partition in sorted(found)]


def committed_offsets(settings: Settings) -> dict[TopicPartition, int]:
    """The group's committed offsets; a partition it never committed is absent."""
    group = settings.sink.group_id
    admin = KafkaAdminClient(
        bootstrap_servers=settings.kafka.bootstrap, client_id="streamsim-sink-lag"
    )
    deadline = time.monotonic() + RETRY_FOR_S
    try:
        while True:
            try:
                offsets = admin.list_group_offsets({group: None}).get(group, {})
                break
            except KafkaError as error:
                if not error.retriable or time.monotonic() > deadline:
                    raise
                log.debug("retrying the group's offsets after: %s", error)
                time.sleep(0.5)
    finally:
        admin.close()
    return {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}


def consumer_lag(settings: Settings) -> dict[str, int]:
    """Per event topic, the messages the sink group has not yet committed."""
    committed = committed_offsets(settings)
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap,
        group_id=None,
        enable_auto_commit=False,
        client_id="streamsim-sink-lag",
    )
    try:
        partitions = [tp for topic in TOPICS for tp in topic_partitions(consumer, topic.name)]
        beginnings = consumer.beginning_offsets(partitions)
        ends = consumer.end_offsets(partitions)
    finally:
        consumer.close(autocommit=False)

    lag = {topic.name: 0 for topic in TOPICS}
    for tp in partitions:
        # Retention may have deleted messages past the commit; those cannot be read.
        start = max(committed.get(tp, beginnings[tp]), beginnings[tp])
        lag[tp.topic] += max(0, ends[tp] - start)
    log.debug("sink lag: %s", lag)
    return lag
