"""What an emitter handed to Kafka and has not yet seen settled, kept where a kill leaves it.

A server killed with SIGKILL dies with the events its producer still held (tens of them on a
busy machine: the batch being filled, the one on the wire). Each event is written here before
it is sent, and its settlement (confirmed or refused by Kafka) after; whoever sees the
emitter die sends the unsettled ones again (`unsettled`). An event that had in fact reached
the broker then lands twice, under one event id: the run summary counts it once, and the
warehouse keeps it once.

One line per fact, appended with a single unbuffered write, so a kill leaves at worst a torn
last line. No fsync: the page cache outlives a killed process, the fault this guards against.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Unsettled:
    """One event as it was handed to Kafka: enough to send the very same bytes again."""

    event_id: str | None
    event_type: str
    key: bytes
    payload: bytes


class Outbox:
    """Append-only: `sent` before the producer sees an event, `settled` once Kafka answered."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file = path.open("ab", buffering=0)
        self._next = 0
        self._lock = threading.Lock()

    def sent(self, event_id: str | None, event_type: str, key: bytes, payload: bytes) -> int:
        with self._lock:
            number, self._next = self._next, self._next + 1
            # latin-1 maps every byte to one character and back: any payload round-trips.
            line = {
                "n": number,
                "id": event_id,
                "type": event_type,
                "key": key.decode("latin-1"),
                "payload": payload.decode("latin-1"),
            }
            self._file.write(orjson.dumps(line) + b"\n")
        return number

    def settled(self, number: int, *, failed: bool = False) -> None:
        with self._lock:
            self._file.write(orjson.dumps({"settled": number, "failed": failed}) + b"\n")

    def close(self, *, forget: bool) -> None:
        """`forget` once everything is settled: a clean stop leaves nothing to send again."""
        with self._lock:
            self._file.close()
        if forget:
            self.path.unlink(missing_ok=True)


def _lines(path: Path) -> list[dict[str, Any]]:
    try:
        raw_lines = path.read_bytes().splitlines()
    except FileNotFoundError:
        return []
    lines = []
    for raw in raw_lines:
        try:
            lines.append(orjson.loads(raw))
        except orjson.JSONDecodeError:
            log.info("skipping a torn line of %s", path)
    return lines


def outbox_counts(path: Path) -> dict[str, dict[str, int]] | None:
    """A dead emitter's counts as an `EmitCounts` dict, read from its outbox; None without one.

    The outbox holds them already, so a server need not also rewrite a counts file at each
    event (a file replaced per event cost over a millisecond here, the append microseconds).
    """
    if not path.exists():
        return None
    emitted: Counter[str] = Counter()
    delivered: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    types: dict[int, str] = {}
    for line in _lines(path):
        if "settled" in line:
            kind = types.get(int(line["settled"]))
            if kind is not None:
                (failed if line.get("failed") else delivered)[kind] += 1
            continue
        types[int(line["n"])] = str(line["type"])
        emitted[str(line["type"])] += 1
    return {"emitted": dict(emitted), "delivered": dict(delivered), "failed": dict(failed)}


def unsettled(path: Path) -> list[Unsettled]:
    """The events of a dead emitter's outbox that Kafka never answered, in the order sent.

    A torn last line was being written when the process died: a torn `sent` was never
    handed to Kafka (the write comes first), a torn `settled` leaves its event to be sent
    again, which at worst lands it twice under one id.
    """
    pending: dict[int, Unsettled] = {}
    for line in _lines(path):
        if "settled" in line:
            pending.pop(int(line["settled"]), None)
            continue
        pending[int(line["n"])] = Unsettled(
            line["id"],
            line["type"],
            str(line["key"]).encode("latin-1"),
            str(line["payload"]).encode("latin-1"),
        )
    return [pending[n] for n in sorted(pending)]
