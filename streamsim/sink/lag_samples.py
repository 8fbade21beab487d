"""The sink group's consumer lag, sampled now and then and kept in the lake for dashboards.

Lag is a fact of the moment: `consumer_lag` knows only how far behind the group is now. To
chart it over time the sink process samples it every `sink.lag_sample_s` and lands each
sample as a small Parquet file in `lake/consumer_lag/`, filed by arrival hour like the
events, so the lake's upkeep merges and expires these files too.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
from kafka.errors import KafkaError

from streamsim.lake import CONSUMER_LAG, LAG_SCHEMA, lake_write_lock
from streamsim.settings import Settings
from streamsim.sink.files import file_name, write_atomically
from streamsim.sink.lag import consumer_lag

log = logging.getLogger(__name__)


def lag_folder(lake_dir: Path, sampled_at: datetime) -> Path:
    day, hour = f"ingest_date={sampled_at:%Y-%m-%d}", f"ingest_hour={sampled_at:%H}"
    return lake_dir / CONSUMER_LAG / day / hour


def lag_table(sampled_at: datetime, group_id: str, lag: Mapping[str, int]) -> pa.Table:
    topics = sorted(lag)
    columns = {
        "sampled_at": [sampled_at] * len(topics),
        "group_id": [group_id] * len(topics),
        "topic": topics,
        "lag_messages": [lag[topic] for topic in topics],
    }
    return pa.table(columns, schema=LAG_SCHEMA)


def write_lag_sample(
    lake_dir: Path, group_id: str, lag: Mapping[str, int], sampled_at: datetime
) -> Path:
    """Land one sample, a row per topic, under the same shared lock as the sink's batches."""
    table = lag_table(sampled_at, group_id, lag)
    with lake_write_lock(lake_dir, exclusive=False):
        return write_atomically(table, lag_folder(lake_dir, sampled_at), file_name(sampled_at))


def sample_once(settings: Settings) -> Path | None:
    """Measure and land one sample; a broker that does not answer costs a sample, no more."""
    sampled_at = datetime.now(UTC)
    try:
        lag = consumer_lag(settings)
    except (KafkaError, OSError) as error:
        log.warning("consumer lag not sampled: %s", error)
        return None
    return write_lag_sample(settings.lake_dir, settings.sink.group_id, lag, sampled_at)


def record_lag(settings: Settings, stop: threading.Event) -> None:
    """Sample until `stop` is set; the first sample comes at once."""
    while not stop.is_set():
        sample_once(settings)
        stop.wait(settings.sink.lag_sample_s)


def start_lag_recorder(settings: Settings, stop: threading.Event) -> threading.Thread | None:
    """Record lag on a thread of its own, so a slow broker answer never delays a batch."""
    if settings.sink.lag_sample_s <= 0:
        return None
    thread = threading.Thread(
        target=record_lag, args=(settings, stop), name="lag-recorder", daemon=True
    )
    thread.start()
    return thread
