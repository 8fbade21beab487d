"""Fault injection: each user message faulty with probability f, each kind as documented."""

from __future__ import annotations

import asyncio
import functools
from collections import Counter
from datetime import datetime
from typing import Any

import orjson
import pytest

from streamsim.events import EventType
from streamsim.lake import UNREADABLE
from streamsim.sink.records import Message as KafkaMessage
from streamsim.sink.records import QuarantineRow, TruthRow, classify
from streamsim.users.faults import (
    ENUM_MISTAKES,
    SINGLE_MESSAGE_KINDS,
    FaultInjector,
    FaultKind,
    FaultOutlet,
    applicable_kinds,
    payload_md5,
)

from .fake_player import FakePlayer
from .support import CATALOGUE, DEFAULT, Event, live, new_user

SEEDS = range(6)
DURATIONS = {video.video_id: video.duration_s for video in CATALOGUE.videos}
ALLOWED = {
    "source": {"user", "server", "orchestrator"},
    "country": set(DEFAULT.traits.countries),
    "device": set(DEFAULT.traits.devices),
    "browser": set(DEFAULT.traits.browsers),
    "connection": set(DEFAULT.traits.connections),
    "page": {"home", "search", "browse"},
    "via": {"open_video", "next_video", "recommended"},
    "direction": {"forward", "back"},
    "reason": {"no_server", "slow_start"},
    "next": {"next_video", "recommended", "home", "search", "browse", "next_page", "close"},
    "restart_reason": {"stream_lost"},
}


class Wire:
    """Everything a client sent, in order, as bytes; and the truth it recorded."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, bytes, str]] = []
        self.truth: list[Event] = []
        self.clean = 0

    def emit(self, event: Event) -> None:
        self.clean += 1
        self.sent.append((orjson.dumps(event), str(event["session_id"]).encode(), "clean"))

    def outlet(self) -> FaultOutlet:
        return FaultOutlet(lambda *message: self.sent.append(message), self.truth.append)

    def payloads(self) -> list[bytes]:
        return [payload for payload, _, _ in self.sent]


def inject(
    events: list[Event], error_factor: float, only: FaultKind | None = None, seed: int = 7
) -> Wire:
    """Send a clean session's events through an injector, as a user at `error_factor` would."""
    wire = Wire()
    weights = {kind: float(only is None or kind == only) for kind in FaultKind}
    injector = FaultInjector(
        seed=seed,
        error_factor=error_factor,
        weights=weights,
        catalogue=CATALOGUE,
        emit=wire.emit,
        outlet=wire.outlet(),
        now=lambda: 1_790_000_000.0,
    )
    for event in events:
        injector.send(event)
    injector.flush()
    return wire


def parsed(payload: bytes) -> Any:
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None


@functools.cache
def _session(seed: int) -> tuple[Event, ...]:
    return tuple(live(seed))


def session(seed: int) -> list[Event]:
    """A clean session's events; the injector copies before it changes anything."""
    return list(_session(seed))


@pytest.mark.timeout(30)
def test_at_error_factor_zero_every_message_goes_out_clean_and_nothing_is_recorded() -> None:
    events = session(1)

    wire = inject(events, 0.0)

    assert wire.payloads() == [orjson.dumps(event) for event in events]
    assert wire.truth == []


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.timeout(30)
def test_at_error_factor_one_every_message_on_the_wire_is_a_recorded_fault(seed: int) -> None:
    events = session(seed)

    wire = inject(events, 1.0, seed=seed)

    assert wire.clean == 0
    copies: Counter[str] = Counter()
    on_wire = []
    for payload in wire.payloads():
        md5 = payload_md5(payload)
        copies[md5] += 1
        on_wire.append((md5, copies[md5]))
    # A late message or an extra beat that was also broken has two records: one message.
    recorded = {(t["payload_md5"], t["copy"]) for t in wire.truth if t["payload_md5"]}
    assert sorted(on_wire) == sorted(recorded)
    assert {t["event_id"] for t in wire.truth} >= {e["event_id"] for e in events}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.timeout(30)
def test_at_error_factor_one_every_message_carries_a_fault_of_its_own_bytes(seed: int) -> None:
    """Late messages, extra beats and duplicates too: none can pass for clean on its own."""
    events = session(seed)
    clean = {orjson.dumps(event) for event in events}

    wire = inject(events, 1.0, seed=seed)

    broken = {t["payload_md5"] for t in wire.truth if t["kind"] in SINGLE_MESSAGE_KINDS}
    for payload in wire.payloads():
        assert payload not in clean
        assert payload_md5(payload) in broken


@pytest.mark.timeout(60)
def test_at_a_half_about_half_the_events_are_faulty_and_at_one_every_kind_comes_up() -> None:
    events = [event for seed in SEEDS for event in session(seed)]

    half = inject(events, 0.5)
    every = inject(events, 1.0)

    faulty_share = len({t["event_id"] for t in half.truth}) / len(events)
    assert 0.4 < faulty_share < 0.6
    assert {t["kind"] for t in every.truth} == set(FaultKind)


@pytest.mark.timeout(30)
def test_a_seed_gives_the_same_faults() -> None:
    events = session(3)

    def faults(wire: Wire) -> list[tuple[Any, ...]]:
        return [(t["kind"], t["event_id"], t["copy"]) for t in wire.truth]

    assert faults(inject(events, 0.4, seed=5)) == faults(inject(events, 0.4, seed=5))
    assert faults(inject(events, 0.4, seed=5)) != faults(inject(events, 0.4, seed=6))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.timeout(30)
def test_a_seeded_user_lives_the_same_session_at_any_error_factor(seed: int) -> None:
    def walk(error_factor: float) -> tuple[Any, ...]:
        player, wire = FakePlayer(), Wire()
        user = new_user(seed, player, [], error_factor=error_factor, faults=wire.outlet())
        asyncio.run(user.live())
        return dict(user.done), list(user.recent), user.videos_watched, len(player.started)

    assert walk(0.0) == walk(1.0)


@pytest.mark.timeout(30)
def test_a_user_with_an_error_factor_sends_through_its_fault_outlet() -> None:
    wire, events = Wire(), list[Event]()
    user = new_user(4, FakePlayer(), events, error_factor=1.0, faults=wire.outlet())

    asyncio.run(user.live())

    assert events == []
    assert wire.sent and wire.truth
    assert {t["user_id"] for t in wire.truth} == {"u-4"}


def test_a_user_with_an_error_factor_but_no_fault_outlet_is_refused() -> None:
    with pytest.raises(ValueError, match="outlet"):
        new_user(1, FakePlayer(), [], error_factor=0.1)


@pytest.mark.parametrize("kind", list(FaultKind))
@pytest.mark.timeout(60)
def test_each_kind_strikes_only_the_events_it_applies_to(kind: FaultKind) -> None:
    events = [event for seed in SEEDS for event in session(seed)]
    by_id = {event["event_id"]: event for event in events}

    wire = inject(events, 1.0, only=kind)

    struck = {t["event_id"] for t in wire.truth if t["event_id"] in by_id}
    for event in events:
        if kind not in applicable_kinds(event):
            assert event["event_id"] not in struck, f"{kind} struck a {event['event_type']}"
    assert struck, f"{kind} never struck"
    assert {t["kind"] for t in wire.truth} == {kind}


def sent_for(wire: Wire, truth: Event) -> bytes:
    return next(p for p in wire.payloads() if payload_md5(p) == truth["payload_md5"])


def the_truth(kind: FaultKind) -> tuple[dict[str, Event], Wire]:
    events = [event for seed in SEEDS for event in session(seed)]
    return {event["event_id"]: event for event in events}, inject(events, 1.0, only=kind)


@pytest.mark.timeout(60)
def test_missing_and_null_fields_take_a_required_field_away() -> None:
    for kind in (FaultKind.MISSING_FIELD, FaultKind.NULL_FIELD):
        originals, wire = the_truth(kind)
        for truth in wire.truth:
            sent, field = parsed(sent_for(wire, truth)), truth["detail"]
            assert originals[truth["event_id"]][field] is not None
            if kind == FaultKind.MISSING_FIELD:
                assert field not in sent
            else:
                assert field in sent and sent[field] is None


@pytest.mark.timeout(60)
def test_wrong_type_changes_a_field_s_json_type() -> None:
    originals, wire = the_truth(FaultKind.WRONG_TYPE)

    for truth in wire.truth:
        field = truth["detail"]
        before, after = originals[truth["event_id"]][field], parsed(sent_for(wire, truth))[field]
        assert isinstance(before, str) != isinstance(after, str)


@pytest.mark.timeout(60)
def test_unknown_types_and_enum_values_are_outside_their_sets() -> None:
    _, types = the_truth(FaultKind.UNKNOWN_EVENT_TYPE)
    for truth in types.truth:
        sent_type = parsed(sent_for(types, truth))["event_type"]
        assert sent_type not in set(EventType)

    _, enums = the_truth(FaultKind.UNKNOWN_ENUM_VALUE)
    fields = set()
    for truth in enums.truth:
        field = truth["detail"].split("=")[0]
        fields.add(field)
        assert parsed(sent_for(enums, truth))[field] not in ALLOWED[field]
    assert {"source", "page"} <= fields <= set(ENUM_MISTAKES)


@pytest.mark.timeout(60)
def test_video_ids_and_positions_go_out_of_the_catalogue_and_the_video() -> None:
    _, videos = the_truth(FaultKind.UNKNOWN_VIDEO_ID)
    for truth in videos.truth:
        assert parsed(sent_for(videos, truth))["video_id"] not in DURATIONS

    _, negative = the_truth(FaultKind.NEGATIVE_POSITION)
    for truth in negative.truth:
        field = truth["detail"].split("=")[0]
        assert parsed(sent_for(negative, truth))[field] < 0

    _, beyond = the_truth(FaultKind.IMPOSSIBLE_POSITION)
    for truth in beyond.truth:
        sent, field = parsed(sent_for(beyond, truth)), truth["detail"].split("=")[0]
        assert sent[field] > DURATIONS[sent["video_id"]] + 1.0


@pytest.mark.timeout(60)
def test_clock_skew_moves_the_time_by_one_to_twenty_four_hours() -> None:
    for kind, sign in ((FaultKind.CLOCK_SKEW_PAST, -1), (FaultKind.CLOCK_SKEW_FUTURE, 1)):
        originals, wire = the_truth(kind)
        for truth in wire.truth:
            sent = datetime.fromisoformat(parsed(sent_for(wire, truth))["emitted_at"])
            made = datetime.fromisoformat(originals[truth["event_id"]]["emitted_at"])
            hours = (sent - made).total_seconds() / 3600
            assert 1.0 <= sign * hours <= 24.0


@pytest.mark.timeout(60)
def test_an_unknown_session_id_is_sent_and_keyed_by() -> None:
    originals, wire = the_truth(FaultKind.UNKNOWN_SESSION_ID)
    real = {event["session_id"] for event in originals.values()}

    for truth in wire.truth:
        payload, key, _ = next(m for m in wire.sent if payload_md5(m[0]) == truth["payload_md5"])
        assert parsed(payload)["session_id"] == key.decode()
        assert key.decode() not in real


@pytest.mark.timeout(60)
def test_a_duplicate_is_the_same_bytes_right_after_the_original() -> None:
    _, wire = the_truth(FaultKind.DUPLICATE_SEND)
    payloads = wire.payloads()

    assert wire.truth and {t["copy"] for t in wire.truth} == {2}
    for truth in wire.truth:
        first = next(i for i, p in enumerate(payloads) if payload_md5(p) == truth["payload_md5"])
        assert payloads[first + 1] == payloads[first]


@pytest.mark.timeout(60)
def test_an_out_of_order_message_goes_after_a_later_one() -> None:
    _, wire = the_truth(FaultKind.OUT_OF_ORDER)
    payloads = wire.payloads()

    assert wire.truth
    for truth in wire.truth:
        at = next(i for i, p in enumerate(payloads) if payload_md5(p) == truth["payload_md5"])
        before = parsed(payloads[at - 1])
        assert before["emitted_at"] > truth["emitted_at"]
        assert before["session_id"] == truth["session_id"]


@pytest.mark.timeout(60)
def test_heartbeats_go_missing_or_come_twice() -> None:
    _, missing = the_truth(FaultKind.MISSING_HEARTBEAT)
    sent_types = [parsed(p)["event_type"] for p in missing.payloads()]
    assert "heartbeat" not in sent_types
    assert missing.truth and all(t["payload_md5"] is None for t in missing.truth)

    _, extra = the_truth(FaultKind.EXTRA_HEARTBEAT)
    payloads = extra.payloads()
    assert extra.truth
    for truth in extra.truth:
        at = payloads.index(sent_for(extra, truth))
        real, beat = parsed(payloads[at - 1]), parsed(payloads[at])
        assert real["event_type"] == beat["event_type"] == "heartbeat"
        assert (real["event_id"], beat["event_id"]) == (truth["event_id"], truth["detail"])
        assert {**real, "event_id": None} == {**beat, "event_id": None}


@pytest.mark.timeout(60)
def test_truncated_and_non_json_payloads_are_quarantined_and_counted_unreadable() -> None:
    for kind in (FaultKind.TRUNCATED_PAYLOAD, FaultKind.NOT_JSON):
        originals, wire = the_truth(kind)
        assert wire.truth
        for truth in wire.truth:
            payload, _, counted = next(
                m for m in wire.sent if payload_md5(m[0]) == truth["payload_md5"]
            )
            row = classify(KafkaMessage("t", 0, 0, b"k", payload), datetime.now().astimezone())
            assert isinstance(row, QuarantineRow)
            assert counted == UNREADABLE
            if kind == FaultKind.TRUNCATED_PAYLOAD:
                whole = orjson.dumps(originals[truth["event_id"]])
                assert whole.startswith(payload) and payload != whole


@pytest.mark.timeout(30)
def test_a_truth_record_says_what_was_broken_and_lands_as_a_truth_row() -> None:
    originals, wire = the_truth(FaultKind.NULL_FIELD)
    truth = wire.truth[0]

    original = originals[truth["event_id"]]
    assert {k: truth[k] for k in ("user_id", "session_id", "event_type", "emitted_at")} == {
        k: original[k] for k in ("user_id", "session_id", "event_type", "emitted_at")
    }
    assert truth["copy"] == 1 and truth["run_id"] == "r1"
    message = KafkaMessage("streamsim.fault-truth", 0, 0, b"k", orjson.dumps(truth))
    row = classify(message, datetime.now().astimezone())
    assert isinstance(row, TruthRow)
    assert row.fields[2] == "null_field" and row.fields[9] == "1"


@pytest.mark.timeout(30)
def test_a_held_message_with_nothing_later_after_it_goes_out_at_the_session_s_end() -> None:
    first, *rest = session(2)
    same_moment = [{**event, "emitted_at": first["emitted_at"]} for event in rest[:3]]
    events = [first, *same_moment]

    wire = inject(events, 1.0, only=FaultKind.OUT_OF_ORDER)

    assert wire.payloads() == [*map(orjson.dumps, same_moment), orjson.dumps(first)]
    assert [(t["event_id"], t["detail"]) for t in wire.truth] == [
        (first["event_id"], "sent at the session's end")
    ]
