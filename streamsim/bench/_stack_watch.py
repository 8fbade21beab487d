"""Looks at a running stack from outside, as an operator would: one sample every few seconds.

Every figure is read where the stack already publishes it (Kafka offsets, the sink's status
file, the services' HTTP status answers, `ops.freshness` in the serving copy, the process
table), so watching adds no code path to the stack itself.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any

import duckdb
from kafka.consumer.group import KafkaConsumer
from kafka.errors import KafkaError

from streamsim.bench._parts import LAUNCHER, PartMeter, look
from streamsim.bench._verdict import LagPoint, Publication
from streamsim.events.topics import TOPICS
from streamsim.settings import Settings
from streamsim.sink.lag import consumer_lag, topic_partitions
from streamsim.sink.status import read_status
from streamsim.stack.record import read_stack_record

HTTP_TIMEOUT_S = 3.0


def http_json(url: str) -> Any:
    """A status answer, or None when the service is too busy or gone: a sample has gaps."""
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as answer:
            return json.loads(answer.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


class StackWatch:
    """Samples one stack; `sample()` returns a plain dict for the JSON series."""

    def __init__(self, settings: Settings, launcher_pid: int) -> None:
        self.settings = settings
        self.launcher_pid = launcher_pid
        self.meter = PartMeter()
        self._offsets = KafkaConsumer(
            bootstrap_servers=settings.kafka.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            client_id="streamsim-bench-stack",
        )
        self._published_after = datetime.now(UTC).replace(tzinfo=None)
        self.lag_points: list[LagPoint] = []
        self.publications: list[Publication] = []
        self.began = time.monotonic()

    def close(self) -> None:
        self._offsets.close(autocommit=False)

    def restart_clock(self) -> None:
        """A new step (of a ramp) starts its own series; the parts' CPU counts from now."""
        self.began = time.monotonic()
        self.lag_points = []
        self.publications = []
        self.meter = PartMeter()
        self.meter.update(look(self.roots()))

    def roots(self) -> dict[str, int]:
        record = read_stack_record(self.settings) or {}
        pids = {name: pid for name, pid in record.get("pids", {}).items() if pid}
        return {**pids, LAUNCHER: self.launcher_pid}

    def sample(self) -> dict[str, Any]:
        at_s = round(time.monotonic() - self.began, 1)
        lag = self._lag()
        if lag is not None:
            self.lag_points.append(LagPoint(at_s, sum(lag.values())))
        new = self._new_publications(at_s)
        self.publications.extend(new)
        return {
            "at_s": at_s,
            "load_1m": round(os.getloadavg()[0], 2),
            "produced": self._produced(),
            "landed": (read_status(self.settings) or {}).get("events_total"),
            "lag": lag,
            "active_users": self._active_users(),
            "orchestrator": self._orchestrator(),
            "freshness": [vars(p) for p in new],
            "cpu_s": self.meter.update(look(self.roots())),
            "rss_mb": {p: round(b / 2**20) for p, b in sorted(self.meter.rss_last.items())},
        }

    def _lag(self) -> dict[str, int] | None:
        try:
            return consumer_lag(self.settings)
        except KafkaError:
            return None  # a broker busy past the lag reader's retries: a gap in the series

    def _produced(self) -> int | None:
        """Messages ever written to the event topics: their end offsets, summed."""
        try:
            partitions = [
                tp for topic in TOPICS for tp in topic_partitions(self._offsets, topic.name)
            ]
            return int(sum(self._offsets.end_offsets(partitions).values()))
        except KafkaError:
            return None

    def _active_users(self) -> int | None:
        users = self.settings.users
        body = http_json(f"http://{users.host}:{users.port}/health")
        return None if body is None else int(body.get("active", 0))

    def _orchestrator(self) -> dict[str, Any] | None:
        config = self.settings.orchestrator
        body = http_json(f"http://{config.host}:{config.port}/api/stats")
        if body is None:
            return None
        keep = ("requested_rate", "requested_rate_mean", "achieved_rate", "in_flight", "counts")
        return {key: body.get(key) for key in keep}

    def _new_publications(self, at_s: float) -> list[Publication]:
        """`ops.freshness` rows published since the last look, from the read-only copy."""
        try:
            connection = duckdb.connect(str(self.settings.serving_path), read_only=True)
        except duckdb.Error:
            return []  # no copy yet, or one being replaced
        try:
            rows = connection.execute(
                "SELECT published_at, events, p50_s, p95_s FROM ops.freshness "
                "WHERE published_at > $after AND run_id = $run ORDER BY published_at",
                {"after": self._published_after, "run": self.settings.run_id},
            ).fetchall()
        except duckdb.Error:
            return []  # published before the first freshness row existed
        finally:
            connection.close()
        if rows:
            self._published_after = rows[-1][0]
        return [
            Publication(at_s, int(events), float(p50), float(p95))
            for _, events, p50, p95 in rows
            if events and p50 is not None and p95 is not None
        ]
