"""The quality models on hand-made lake rows: each fault is flagged, its clean neighbours not."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from streamsim.lake import EVENT_SCHEMA, QUARANTINE_SCHEMA
from streamsim.pipeline import warehouse
from streamsim.pipeline.warehouse import open_context
from streamsim.settings import Settings, load_settings

pytestmark = pytest.mark.timeout(240)

SITE_0 = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
INGESTED_0 = datetime.now(UTC) - timedelta(minutes=30)
USER_TOPIC = "streamsim.user-events"
# A video of the default catalogue: its id and duration, for ranges.
VIDEO = "v00000"


def wire_time(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class LakeBuilder:
    """Rows as the sink writes them; site time runs at speed 1 from SITE_0 on ingestion."""

    settings: Settings
    rows: list[dict[str, Any]] = field(default_factory=list)
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    ingested_0: datetime = INGESTED_0  # when site second 0 arrived

    def _next_offset(self, topic: str, partition: int) -> int:
        offset = self.offsets.get((topic, partition), 0)
        self.offsets[(topic, partition)] = offset + 1
        return offset

    def send(
        self, body: dict[str, Any] | str, at_s: float, partition: int = 0, key: str | None = None
    ) -> str:
        """One message on the user topic (or the server's, by source); returns its body.

        The Kafka key is the session the body names, as the users key it, unless given.
        """
        text = body if isinstance(body, str) else json.dumps(body)
        source = body.get("source") if isinstance(body, dict) else "user"
        topic = "streamsim.server-events" if source == "server" else USER_TOPIC
        envelope = {
            name: (None if value is None else str(value))
            for name, value in (body.items() if isinstance(body, dict) else [])
            if name in EVENT_SCHEMA.names
        }
        self.rows.append(
            {
                **{name: envelope.get(name) for name in EVENT_SCHEMA.names[:8]},
                "body": text,
                "topic": topic,
                "kafka_partition": partition,
                "kafka_offset": self._next_offset(topic, partition),
                "kafka_key": key or envelope.get("session_id"),
                "ingested_at": self.ingested_0 + timedelta(seconds=at_s + 0.5),
            }
        )
        return text

    def quarantine(self, raw: bytes, key: str, at_s: float, partition: int = 0) -> None:
        self.quarantined.append(
            {
                "raw": raw,
                "reason": "not_json",
                "topic": USER_TOPIC,
                "kafka_partition": partition,
                "kafka_offset": self._next_offset(USER_TOPIC, partition),
                "kafka_key": key.encode(),
                "ingested_at": self.ingested_0 + timedelta(seconds=at_s + 0.5),
            }
        )

    def write(self, name: str = "a") -> None:
        events = self.settings.lake_dir / "events" / "event_date=2026-12-04" / "event_hour=10"
        events.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pylist(self.rows, schema=EVENT_SCHEMA)
        pq.write_table(table, events / f"{name}.parquet")
        if self.quarantined:
            folder = self.settings.lake_dir / "quarantine" / "ingest_date=2026-12-04"
            folder.mkdir(parents=True, exist_ok=True)
            table = pa.Table.from_pylist(self.quarantined, schema=QUARANTINE_SCHEMA)
            pq.write_table(table, folder / "q.parquet")


def event(event_type: str, at_s: float, session: str, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": event_type,
        "schema_version": 1,
        "emitted_at": wire_time(SITE_0 + timedelta(seconds=at_s)),
        "source": "user",
        "run_id": "r1",
        "user_id": f"user-{session}",
        "session_id": session,
        **fields,
    }


def server_clock(lake: LakeBuilder, seconds: int, from_s: int = 0) -> None:
    """A server's utilisation every 5 s from `from_s` to `seconds`: what fits the run clock."""
    for at_s in range(from_s, seconds, 5):
        lake.send(
            {
                **event("server_utilisation", at_s, "-"),
                "source": "server",
                "user_id": None,
                "session_id": None,
                "server_id": "s1",
                "streams": 1,
                "capacity": 100,
                "utilisation": 0.01,
            },
            at_s,
        )


def _category(settings: Settings) -> str:
    from streamsim.pipeline.expectations import catalogue_rows

    return str(catalogue_rows(settings.users.model_file)[0]["category"])


def play(lake: LakeBuilder, session: str, start_s: float, partition: int = 0) -> dict[str, Any]:
    """A clean session with one play of four heartbeats, before it is sent: name -> event."""
    stream = {"server_id": "s1", "stream_id": f"st-{session}"}
    where = {"video_id": VIDEO}

    def at(name: str, event_type: str, offset_s: float, **fields: Any) -> tuple[str, Any]:
        return name, event(event_type, start_s + offset_s, session, **fields)

    traits = {"country": "US", "device": "desktop", "browser": "chrome", "connection": "fibre"}
    events = dict(
        [
            at("start", "session_started", 0, **traits),
            at(
                "opened",
                "video_opened",
                1,
                **where,
                category=_category(lake.settings),
                via="open_video",
            ),
            at(
                "playing",
                "playback_started",
                2,
                **where,
                position_s=0.0,
                **stream,
                video_start_time_ms=500,
            ),
            *(
                at(
                    f"beat{n}",
                    "heartbeat",
                    2 + 10 * n,
                    **where,
                    position_s=10.0 * n,
                    stream_id=stream["stream_id"],
                )
                for n in range(1, 5)
            ),
            at("paused", "playback_paused", 47, **where, position_s=45.0),
            at("skipped", "video_skipped", 50, **where, position_s=45.0, next="home"),
            at("ended", "session_ended", 51, videos_watched=1),
        ]
    )
    server = {**event("stream_started", start_s + 1.5, session), "source": "server", **stream}
    lake.send({**server, **where, "position_s": 0.0}, start_s + 1.5, partition)
    return events


def send_all(lake: LakeBuilder, events: dict[str, Any], partition: int = 0) -> dict[str, str]:
    """Send in order of the dict; a value may be a body text (a broken message) or None."""
    sent: dict[str, str] = {}
    for name, body in events.items():
        if body is None:
            continue
        at_s = _seconds(body)
        sent[name] = lake.send(body, at_s, partition)
    return sent


def _seconds(body: dict[str, Any] | str) -> float:
    if isinstance(body, str):
        return 30.0
    return (datetime.fromisoformat(body["emitted_at"]) - SITE_0).total_seconds() % 86_400


@dataclass
class Judged:
    rows: dict[str, dict[str, Any]]  # by "session/name"


def judge(lake: LakeBuilder, sent: dict[str, dict[str, str]]) -> Judged:
    lake.write()
    warehouse.run_models(lake.settings)
    with open_context(lake.settings) as context:
        frame = context.fetchdf("SELECT * FROM quality.event_checks")
    by_md5: dict[tuple[str, int], dict[str, Any]] = {
        (row["payload_md5"], row["copy"]): row for row in frame.to_dict("records")
    }
    rows = {}
    for session, messages in sent.items():
        copies: dict[str, int] = {}
        for name, text in messages.items():
            md5 = _md5(text)
            copies[md5] = copies.get(md5, 0) + 1
            rows[f"{session}/{name}"] = by_md5[(md5, copies[md5])]
    return Judged(rows)


def _md5(text: str) -> str:
    import hashlib

    return hashlib.md5(text.encode()).hexdigest()


@pytest.fixture(scope="module")
def judged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Judged]:
    settings = load_settings(state_dir=tmp_path_factory.mktemp("quality") / "state")
    lake = LakeBuilder(settings)
    server_clock(lake, 600)
    sent: dict[str, dict[str, str]] = {}

    sent["clean"] = send_all(lake, play(lake, "clean", 0))

    broken = play(lake, "broken", 60, partition=1)
    del broken["beat2"]["position_s"]
    broken["beat3"]["position_s"] = "30.0"
    broken["paused"]["video_id"] = "vx0001"
    broken["opened"]["via"] = "email"
    sent["broken"] = send_all(lake, broken, partition=1)

    missing = play(lake, "missing", 120, partition=2)
    missing["beat2"] = None
    sent["missing"] = send_all(lake, missing, partition=2)

    extra = play(lake, "extra", 180, partition=3)
    events = list(extra.items())
    events.insert(5, ("extra", {**extra["beat2"], "event_id": str(uuid.uuid4())}))
    sent["extra"] = send_all(lake, dict(events), partition=3)

    late = play(lake, "late", 240, partition=4)
    late["beat4"]["emitted_at"] = wire_time(SITE_0 + timedelta(seconds=240 + 42 - 3 * 3600))
    order = ["start", "opened", "playing", "beat1", "beat3", "beat2", "beat4", "paused"]
    sent["late"] = {name: lake.send(late[name], 240 + 60, partition=4) for name in order}

    lost = play(lake, "lost", 300, partition=5)
    lost["beat2"] = None
    names = list(lost)
    sent["lost"] = send_all(lake, {n: lost[n] for n in names[: names.index("beat2")]}, 5)
    lake.quarantine(b'{"event_id": "x", "event_ty', key="lost", at_s=323, partition=5)
    sent["lost"] |= send_all(lake, {n: lost[n] for n in names[names.index("beat2") :]}, 5)

    keyless = play(lake, "keyless", 360, partition=6)
    keyless["start"]["session_id"] = None
    sent["keyless"] = {
        name: lake.send(body, _seconds(body), 6, key="keyless") for name, body in keyless.items()
    }
    made_up = event("page_viewed", 375, "made-up", page="home", page_number=1, category=None)
    made_up["user_id"] = "user-keyless"
    sent["keyless"]["made_up"] = lake.send(made_up, 375, 6)

    held = play(lake, "held", 420, partition=7)
    names = ["start", "opened", "playing", "beat1", "beat3"]
    sent["held"] = {name: lake.send(held[name], _seconds(held[name]), 7) for name in names}
    lake.quarantine(b'{"event_id": "y", "event_type": "heartbe', key="held", at_s=443, partition=7)
    names = ["beat4", "paused", "skipped", "ended"]
    sent["held"] |= {name: lake.send(held[name], _seconds(held[name]), 7) for name in names}

    stray = event("heartbeat", 330, "never-started", video_id=VIDEO, position_s=1.0, stream_id="s")
    stray["user_id"] = "user-clean"
    sent["stray"] = {"beat": lake.send(stray, 330), "copy": lake.send(stray, 330)}
    yield judge(lake, sent)


def failing(row: dict[str, Any]) -> set[str]:
    from streamsim.pipeline.expectations import EXPECTATION_NAMES

    return {name for name in EXPECTATION_NAMES if row[name] is False}


def test_a_clean_session_passes_every_expectation(judged: Judged) -> None:
    clean = {name: row for name, row in judged.rows.items() if name.startswith("clean/")}
    assert len(clean) == 10
    assert all(row["passed_all"] for row in clean.values()), [failing(r) for r in clean.values()]


def test_broken_fields_fail_their_own_expectation_and_spare_their_neighbours(
    judged: Judged,
) -> None:
    assert failing(judged.rows["broken/beat2"]) == {"required_fields"}
    assert failing(judged.rows["broken/beat3"]) == {"schema_valid"}
    assert failing(judged.rows["broken/paused"]) == {"known_video"}
    assert failing(judged.rows["broken/opened"]) == {"accepted_values"}
    assert judged.rows["broken/beat4"]["passed_all"]
    assert judged.rows["broken/skipped"]["passed_all"]


def test_a_missing_heartbeat_is_flagged_on_the_next_beat_with_its_gap(judged: Judged) -> None:
    row = judged.rows["missing/beat3"]
    assert failing(row) == {"heartbeat_cadence"}
    assert row["cadence_gap_from"] == judged.rows["missing/beat1"]["emitted_at"]
    assert judged.rows["missing/beat4"]["passed_all"]


def test_a_gap_an_unreadable_message_of_the_session_accounts_for_is_excused(
    judged: Judged,
) -> None:
    assert judged.rows["lost/beat3"]["passed_all"]


def test_an_extra_heartbeat_is_flagged_and_the_real_one_is_not(judged: Judged) -> None:
    assert failing(judged.rows["extra/extra"]) == {"heartbeat_cadence"}
    assert judged.rows["extra/beat2"]["passed_all"]
    assert judged.rows["extra/beat3"]["passed_all"]


def test_a_late_message_fails_order_and_a_skewed_one_fails_timeliness_only(
    judged: Judged,
) -> None:
    assert failing(judged.rows["late/beat2"]) == {"in_session_order"}
    assert failing(judged.rows["late/beat4"]) == {"timely"}
    assert judged.rows["late/paused"]["passed_all"]
    assert judged.rows["late/beat3"]["passed_all"]


def test_a_session_never_started_and_a_second_copy_are_flagged(judged: Judged) -> None:
    assert failing(judged.rows["stray/beat"]) == {"known_session"}
    assert "unique_event_id" in failing(judged.rows["stray/copy"])


def test_a_start_that_lost_its_session_id_is_known_by_its_kafka_key(judged: Judged) -> None:
    assert failing(judged.rows["keyless/made_up"]) == {"known_session"}
    assert judged.rows["keyless/beat1"]["known_session"] is True
    assert judged.rows["keyless/skipped"]["passed_all"]


def test_a_held_back_beat_that_is_unreadable_excuses_the_gap_before_it_lands(
    judged: Judged,
) -> None:
    assert judged.rows["held/beat3"]["passed_all"], failing(judged.rows["held/beat3"])
    assert judged.rows["held/beat4"]["passed_all"]


def test_a_playback_a_server_started_is_reconciled(judged: Judged) -> None:
    assert judged.rows["clean/playing"]["reconciled"] is True
    assert judged.rows["clean/beat1"]["reconciled"] is None
