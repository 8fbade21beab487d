"""The run summary: what the simulators emitted against what reached the lake.

Counts are per Kafka message. A message a user sent twice on purpose (a duplicate fault) is
two messages and lands twice; only the sink's own re-reads of one message (at-least-once
delivery) are duplicates. Every message is counted under the type it carried on the wire,
as the sink reads it: a type the catalogue does not know under its own name, none at all as
`(missing)`, bytes that are no JSON object as `unreadable` (they land in quarantine). The
emitters count faulty messages the same way, so each line of the table adds up.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from streamsim.events.topics import TRUTH_TOPIC
from streamsim.lake import (
    MISSING_EVENT_TYPE,
    QUARANTINE,
    TRUTH,
    UNREADABLE,
    events_glob,
    quarantine_glob,
    truth_glob,
)
from streamsim.settings import Settings

__all__ = ["UNREADABLE", "RunSummary", "summarise"]

# One Kafka message, however many times the sink read it.
_MESSAGE = "DISTINCT (topic, kafka_partition, kafka_offset)"


@dataclass(frozen=True)
class RunSummary:
    emitted: dict[str, int]
    landed: dict[str, int]
    duplicates: dict[str, int]
    quarantined: dict[str, int]
    # The users' injected faults by kind, against the truth records that landed for them.
    faults: dict[str, int] = field(default_factory=dict)
    truth_landed: dict[str, int] = field(default_factory=dict)
    truth_unreadable: int = 0
    # Counted by an emitter that was killed before Kafka confirmed or refused them: each
    # either reached the broker just before the kill, or died in the killed process.
    unconfirmed: dict[str, int] = field(default_factory=dict)
    # Of those, the ones a dead server's group sent again from its outbox.
    resent: int = 0

    @property
    def lost(self) -> dict[str, int]:
        types = sorted(set(self.emitted) | set(self.landed) | set(self.quarantined))
        return {
            t: self.emitted.get(t, 0) - self.landed.get(t, 0) - self.quarantined.get(t, 0)
            for t in types
        }

    @property
    def lost_total(self) -> int:
        return (
            sum(self.emitted.values()) - sum(self.landed.values()) - sum(self.quarantined.values())
        )

    @property
    def truth_lost_total(self) -> int:
        return sum(self.faults.values()) - sum(self.truth_landed.values())

    @property
    def notes(self) -> list[str]:
        """What the counts cannot say by themselves."""
        notes = []
        over = {t: -n for t, n in self.lost.items() if n < 0}
        if over:
            notes.append(
                f"{sum(over.values())} more events landed than their emitters counted "
                f"({', '.join(f'{t} {n}' for t, n in sorted(over.items()))}): an emitter died "
                "(a server killed, say) after it last reported its counts, so its final "
                "moments are known only from what landed"
            )
        if self.unconfirmed:
            by_type = ", ".join(f"{t} {n}" for t, n in sorted(self.unconfirmed.items()))
            notes.append(
                f"{sum(self.unconfirmed.values())} events were counted by emitters killed "
                "before Kafka confirmed them; any of them missing from the lake died with "
                f"their process ({by_type})"
            )
        if self.resent:
            notes.append(
                f"{self.resent} events a killed server had not seen settled were sent again "
                "for it; one that had landed before too counts once, its copy as a duplicate"
            )
        if self.truth_unreadable:
            notes.append(
                f"{self.truth_unreadable} messages of the fault-truth topic could not be read "
                "and were quarantined"
            )
        return notes

    def as_json(self) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "notes": self.notes,
            "emitted": self.emitted,
            "landed": self.landed,
            "duplicates": self.duplicates,
            "quarantined": self.quarantined,
            "lost": self.lost,
            "lost_total": self.lost_total,
        }
        if self.unconfirmed:
            summary["unconfirmed"] = self.unconfirmed
        if self.resent:
            summary["resent"] = self.resent
        if self.faults or self.truth_landed:
            summary["faults"] = {
                "injected": self.faults,
                "truth_landed": self.truth_landed,
                "truth_unreadable": self.truth_unreadable,
                "truth_lost_total": self.truth_lost_total,
            }
        return summary

    def write_json(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.as_json(), indent=2, sort_keys=True) + "\n")

    def table(self) -> str:
        """One line per event type, widest numbers right-aligned, totals last; then faults."""
        header = (
            f"{'event type':<20} {'emitted':>9} {'landed':>9} {'dupes':>7} {'quar.':>6} {'lost':>6}"
        )
        lines = [header, "-" * len(header)]
        lost = self.lost
        for t in sorted(set(self.emitted) | set(self.landed) | set(self.quarantined)):
            lines.append(
                f"{t:<20} {self.emitted.get(t, 0):>9} {self.landed.get(t, 0):>9} "
                f"{self.duplicates.get(t, 0):>7} {self.quarantined.get(t, 0):>6} "
                f"{lost.get(t, 0):>6}"
            )
        lines.append("-" * len(header))
        lines.append(
            f"{'total':<20} {sum(self.emitted.values()):>9} {sum(self.landed.values()):>9} "
            f"{sum(self.duplicates.values()):>7} {sum(self.quarantined.values()):>6} "
            f"{self.lost_total:>6}"
        )
        if self.faults or self.truth_landed:
            lines += ["", self._fault_table()]
        return "\n".join(lines)

    def _fault_table(self) -> str:
        header = f"{'fault kind':<20} {'injected':>9} {'truth landed':>13}"
        lines = [header, "-" * len(header)]
        for kind in sorted(set(self.faults) | set(self.truth_landed)):
            lines.append(
                f"{kind:<20} {self.faults.get(kind, 0):>9} {self.truth_landed.get(kind, 0):>13}"
            )
        lines.append("-" * len(header))
        lines.append(
            f"{'total':<20} {sum(self.faults.values()):>9} {sum(self.truth_landed.values()):>13}"
        )
        return "\n".join(lines)


def summarise(
    settings: Settings,
    emitted: Counter[str],
    run_started: datetime,
    faults: Counter[str] | None = None,
    unconfirmed: Counter[str] | None = None,
    resent_ids: list[str] | None = None,
) -> RunSummary:
    """Count this run's messages in the lake: events, quarantine, and the fault truth.

    `resent_ids` are the events sent again for an emitter that died before Kafka settled
    them: each counts as one landed message however many copies of it reached the lake.
    """
    lake, run_id = settings.lake_dir, settings.run_id
    with duckdb.connect() as db:
        db.execute("SET TimeZone = 'UTC'")
        db.register("resent", pa.table({"event_id": pa.array(resent_ids or [], pa.string())}))
        landed, copies = _events(db, lake, run_id)
        quarantined, reread, truth_unreadable = _quarantined_since(db, lake, run_started)
        truth_landed = _truth(db, lake, run_id)
    duplicates = {t: n - landed[t] for t, n in copies.items() if n > landed[t]}
    if reread:
        duplicates[UNREADABLE] = reread
    return RunSummary(
        dict(emitted),
        landed,
        duplicates,
        quarantined,
        dict(faults or {}),
        truth_landed,
        truth_unreadable,
        dict(unconfirmed or {}),
        len(resent_ids or []),
    )


def _events(
    db: duckdb.DuckDBPyConnection, lake: Path, run_id: str
) -> tuple[dict[str, int], dict[str, int]]:
    """Messages of the run by the type they carried, and the rows they landed as.

    An event sent again for a dead emitter (in the `resent` table) is one message whatever
    number of offsets it landed at: the copies count as rows, so as duplicates.
    """
    if not any((lake / "events").rglob("*.parquet")):
        return {}, {}
    again = "event_id IN (SELECT event_id FROM resent)"
    message = "(topic, kafka_partition, kafka_offset)"
    rows = db.execute(
        f"SELECT coalesce(nullif(event_type, ''), '{MISSING_EVENT_TYPE}'), "
        f"count({_MESSAGE}) - count(DISTINCT CASE WHEN {again} THEN {message} END) "
        f"+ count(DISTINCT CASE WHEN {again} THEN event_id END), "
        f"count(*) FROM read_parquet('{events_glob(lake)}', hive_partitioning = true, "
        "union_by_name = true) WHERE run_id = ? GROUP BY 1",
        [run_id],
    ).fetchall()
    return {str(t): int(n) for t, n, _ in rows}, {str(t): int(c) for t, _, c in rows}


def _quarantined_since(
    db: duckdb.DuckDBPyConnection, lake: Path, run_started: datetime
) -> tuple[dict[str, int], int, int]:
    """Quarantined bytes carry no run id; the run owns what arrived while it ran.

    Returns the unreadable event messages, the sink's re-reads of them, and the unreadable
    messages of the truth topic (counted apart: they are not events).
    """
    if not any((lake / QUARANTINE).rglob("*.parquet")):
        return {}, 0, 0
    rows = db.execute(
        f"SELECT topic = ?, count({_MESSAGE}), count(*) "
        f"FROM read_parquet('{quarantine_glob(lake)}') WHERE ingested_at >= ? GROUP BY 1",
        [TRUTH_TOPIC.name, run_started],
    ).fetchall()
    counts = {bool(is_truth): (int(n), int(c)) for is_truth, n, c in rows}
    events, copies = counts.get(False, (0, 0))
    return ({UNREADABLE: events} if events else {}), copies - events, counts.get(True, (0, 0))[0]


def _truth(db: duckdb.DuckDBPyConnection, lake: Path, run_id: str) -> dict[str, int]:
    if not any((lake / TRUTH).rglob("*.parquet")):
        return {}
    rows = db.execute(
        f"SELECT kind, count({_MESSAGE}) FROM read_parquet('{truth_glob(lake)}', "
        "hive_partitioning = true) WHERE run_id = ? GROUP BY 1",
        [run_id],
    ).fetchall()
    return {str(kind): int(n) for kind, n in rows}
