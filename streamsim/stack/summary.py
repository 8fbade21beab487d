"""The run summary: what the simulators emitted against what reached the warehouse."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from streamsim.lake import events_glob, quarantine_glob
from streamsim.settings import Settings

# Bytes that cannot be parsed have no readable type. The sink counts them under this name,
# and so must an emitter that sends such bytes on purpose (`Emitter.emit_bytes`), so that
# the two sides of the summary line up.
UNREADABLE = "unreadable"


@dataclass(frozen=True)
class RunSummary:
    emitted: dict[str, int]
    landed: dict[str, int]
    duplicates: dict[str, int]
    quarantined: dict[str, int]

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
    def notes(self) -> list[str]:
        """What the counts cannot say by themselves."""
        over = {t: -n for t, n in self.lost.items() if n < 0}
        if not over:
            return []
        return [
            f"{sum(over.values())} more events landed than their emitters counted "
            f"({', '.join(f'{t} {n}' for t, n in sorted(over.items()))}): an emitter died "
            "(a server killed, say) after it last reported its counts, so its final moments "
            "are known only from what landed"
        ]

    def as_json(self) -> dict[str, Any]:
        return {
            "notes": self.notes,
            "emitted": self.emitted,
            "landed": self.landed,
            "duplicates": self.duplicates,
            "quarantined": self.quarantined,
            "lost": self.lost,
            "lost_total": self.lost_total,
        }

    def write_json(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.as_json(), indent=2, sort_keys=True) + "\n")

    def table(self) -> str:
        """One line per event type, widest numbers right-aligned, totals last."""
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
        return "\n".join(lines)


def summarise(settings: Settings, emitted: Counter[str], run_started: datetime) -> RunSummary:
    """Count this run's events in the serving copy of the warehouse and in the raw lake."""
    with duckdb.connect(str(settings.serving_path), read_only=True) as db:
        landed = _by_type(
            db,
            "SELECT event_type, count(DISTINCT event_id) FROM staging.events "
            "WHERE run_id = ? GROUP BY 1",
            [settings.run_id],
        )
        copies = _by_type(
            db,
            f"SELECT event_type, count(*) FROM read_parquet('{events_glob(settings.lake_dir)}', "
            "hive_partitioning = true) WHERE run_id = ? AND event_id IS NOT NULL GROUP BY 1",
            [settings.run_id],
        )
        quarantined = _quarantined_since(db, settings, run_started)
    duplicates = {t: n - landed.get(t, 0) for t, n in copies.items() if n > landed.get(t, 0)}
    return RunSummary(dict(emitted), landed, duplicates, quarantined)


def _by_type(db: duckdb.DuckDBPyConnection, sql: str, params: list[object]) -> dict[str, int]:
    return {str(t): int(n) for t, n in db.execute(sql, params).fetchall()}


def _quarantined_since(
    db: duckdb.DuckDBPyConnection, settings: Settings, run_started: datetime
) -> dict[str, int]:
    """Quarantined bytes carry no run id; the run owns what arrived while it ran."""
    if not any((settings.lake_dir / "quarantine").rglob("*.parquet")):
        return {}
    glob = quarantine_glob(settings.lake_dir)
    row = db.execute(
        f"SELECT count(*) FROM read_parquet('{glob}') WHERE ingested_at >= ?", [run_started]
    ).fetchone()
    count = int(row[0]) if row else 0
    return {UNREADABLE: count} if count else {}
