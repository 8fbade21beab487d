"""Quarantined messages read from the lake, or none: a SQL view would fail on an empty glob."""

from __future__ import annotations

import glob
import hashlib
import typing as t
from datetime import datetime

import pandas as pd
import pyarrow.parquet as pq

from sqlmesh import ExecutionContext, model

COLUMNS = {
    "raw": "BLOB",
    "raw_text": "TEXT",
    "raw_md5": "TEXT",
    "reason": "TEXT",
    "topic": "TEXT",
    "kafka_partition": "INT",
    "kafka_offset": "BIGINT",
    "kafka_key": "TEXT",
    "ingested_at": "TIMESTAMP",
}


@model(
    "quality.quarantined_messages",
    kind="FULL",
    allow_partials=True,
    columns=COLUMNS,
    description="Every message the sink quarantined (bytes that are not one JSON object), "
    "with its bytes and reason. FULL: it rereads every quarantine file on each run, which "
    "stays cheap because only unparseable messages land there.",
    column_descriptions={
        "raw": "The message's bytes exactly as received (NULL for a message without value).",
        "raw_text": "The bytes decoded as UTF-8 with replacement characters, for reading.",
        "raw_md5": "Hex MD5 of the exact bytes: the message's identity for scoring.",
        "reason": "Why the sink could not take it: no_value, not_utf8, not_json, ...",
        "topic": "Kafka topic of the message.",
        "kafka_partition": "Kafka partition of the message.",
        "kafka_offset": "Offset of the message in its partition.",
        "kafka_key": "The message's Kafka key as text (the session for user events).",
        "ingested_at": "Real UTC time at which the sink wrote the row.",
    },
)
def execute(
    context: ExecutionContext, start: datetime, end: datetime, execution_time: datetime, **_: t.Any
) -> t.Iterator[pd.DataFrame]:
    files = sorted(glob.glob(context.var("quarantine_glob"), recursive=True))
    if not files:
        yield from ()
        return
    table = pq.ParquetDataset(files).read().to_pandas()
    yield pd.DataFrame(
        {
            "raw": table["raw"],
            "raw_text": [_text(raw) for raw in table["raw"]],
            "raw_md5": [hashlib.md5(raw or b"").hexdigest() for raw in table["raw"]],
            "reason": table["reason"],
            "topic": table["topic"],
            "kafka_partition": table["kafka_partition"],
            "kafka_offset": table["kafka_offset"],
            "kafka_key": [_text(key) for key in table["kafka_key"]],
            "ingested_at": pd.to_datetime(table["ingested_at"], utc=True).dt.tz_localize(None),
        }
    )


def _text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", errors="replace")
