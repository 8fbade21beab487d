"""The sink: a Kafka consumer group that lands every event in the lake as Parquet."""

from streamsim.sink.consumer import run_sink
from streamsim.sink.lag import consumer_lag
from streamsim.sink.main import main
from streamsim.sink.status import SinkReport, read_status, status_path

__all__ = ["SinkReport", "consumer_lag", "main", "read_status", "run_sink", "status_path"]
