"""Talking to Kafka: emitting events with an honest count, and creating the topics."""

from streamsim.bus.emitter import EmitCounts, Emitter
from streamsim.bus.topics import ensure_topics, wait_for_broker

__all__ = ["EmitCounts", "Emitter", "ensure_topics", "wait_for_broker"]
