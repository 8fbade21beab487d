"""A streaming server: the events it emits for its streams and its own life, and its HTTP face."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from streamsim.clock import SiteClock
from streamsim.events import SCHEMA_VERSION
from streamsim.events.envelope import format_site_time
from streamsim.servers.server import StreamServer, server_app

Event = dict[str, Any]
ENVELOPE = {"event_id", "event_type", "schema_version", "emitted_at", "source", "run_id"}
ENVELOPE |= {"user_id", "session_id"}


class RecordedServer(StreamServer):
    """A server whose events land in a list the test reads."""

    def __init__(self, speed: float, heartbeat_s: float, capacity: int) -> None:
        self.events: list[Event] = []
        clock = SiteClock.starting_now(speed)
        super().__init__("s-1", capacity, heartbeat_s, clock, "r1", self.events.append)


def new_server(speed: float, heartbeat_s: float = 10.0, capacity: int = 10) -> RecordedServer:
    return RecordedServer(speed, heartbeat_s, capacity)


def events_of(server: RecordedServer, kind: str | None = None) -> list[Event]:
    return [e for e in server.events if kind is None or e["event_type"] == kind]


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(test())


def start(server: StreamServer, position_s: float = 0.0) -> str:
    return server.start_stream("u-1", "sess-1", "v00001", position_s)


def test_starting_a_stream_emits_stream_started_at_the_requested_position() -> None:
    async def scenario() -> None:
        server = new_server(speed=1.0)
        stream_id = start(server, position_s=30.0)

        [started] = events_of(server, "stream_started")
        assert started["position_s"] == 30.0
        assert started["stream_id"] == stream_id
        assert (started["user_id"], started["session_id"]) == ("u-1", "sess-1")
        assert (started["video_id"], started["server_id"]) == ("v00001", "s-1")
        assert server.load() == 1

    run(scenario)


@pytest.mark.timeout(10)
def test_seek_reports_where_the_stream_was_and_where_it_restarts() -> None:
    async def scenario() -> None:
        server = new_server(speed=100.0, heartbeat_s=1000.0)
        stream_id = start(server, position_s=30.0)
        await asyncio.sleep(0.1)  # about 10 site seconds of play

        server.seek(stream_id, 200.0)

        [seeked] = events_of(server, "stream_seeked")
        assert seeked["position_s"] == 200.0
        assert seeked["from_s"] == pytest.approx(40.0, abs=5.0)
        assert seeked["stream_id"] == stream_id

    run(scenario)


@pytest.mark.timeout(10)
def test_a_paused_stream_keeps_its_position_until_it_resumes() -> None:
    async def scenario() -> None:
        server = new_server(speed=100.0, heartbeat_s=1000.0)
        stream_id = start(server)
        await asyncio.sleep(0.05)  # about 5 site seconds of play
        server.pause(stream_id)
        await asyncio.sleep(0.3)  # 30 site seconds paused: the position must not move
        server.resume(stream_id)
        await asyncio.sleep(0.05)

        server.stop_stream(stream_id, "user_left")

        [stopped] = events_of(server, "stream_stopped")
        assert stopped["position_s"] == pytest.approx(10.0, abs=4.0)
        assert stopped["reason"] == "user_left"
        assert server.load() == 0
        # Pause and resume are what the user says; the server reports only their effect.
        assert [e["event_type"] for e in events_of(server)] == ["stream_started", "stream_stopped"]

    run(scenario)


@pytest.mark.timeout(10)
def test_a_playing_stream_heartbeats_every_heartbeat_s_of_play() -> None:
    async def scenario() -> None:
        server = new_server(speed=100.0, heartbeat_s=10.0)  # a beat every 0.1 real seconds
        stream_id = start(server, position_s=50.0)
        await asyncio.sleep(0.45)
        server.stop_stream(stream_id, "ended")

        beats = events_of(server, "stream_heartbeat")
        assert len(beats) == 4
        positions = [b["position_s"] for b in beats]
        assert positions[0] == pytest.approx(60.0, abs=3.0)
        gaps = [later - earlier for earlier, later in itertools.pairwise(positions)]
        assert gaps == pytest.approx([10.0] * 3, abs=3.0)
        assert all(b["stream_id"] == stream_id for b in beats)

    run(scenario)


@pytest.mark.timeout(10)
def test_a_paused_stream_sends_no_heartbeats() -> None:
    async def scenario() -> None:
        server = new_server(speed=100.0, heartbeat_s=10.0)
        stream_id = start(server)
        server.pause(stream_id)
        await asyncio.sleep(0.35)
        assert events_of(server, "stream_heartbeat") == []

        server.resume(stream_id)
        await asyncio.sleep(0.15)
        [beat] = events_of(server, "stream_heartbeat")
        assert beat["position_s"] == pytest.approx(10.0, abs=3.0)

    run(scenario)


@pytest.mark.timeout(10)
def test_seek_resets_the_heartbeat_timer() -> None:
    async def scenario() -> None:
        server = new_server(speed=20.0, heartbeat_s=10.0)  # a beat every 0.5 real seconds
        stream_id = start(server)
        await asyncio.sleep(0.35)
        server.seek(stream_id, 500.0)
        await asyncio.sleep(0.3)  # 0.65 s since the start, 0.3 s since the seek
        assert events_of(server, "stream_heartbeat") == []

        await asyncio.sleep(0.4)  # 0.7 s since the seek
        [beat] = events_of(server, "stream_heartbeat")
        assert beat["position_s"] == pytest.approx(510.0, abs=2.0)

    run(scenario)


@pytest.mark.timeout(10)
def test_stop_stops_every_stream_as_draining_and_says_the_server_is_gone() -> None:
    async def scenario() -> None:
        server = new_server(speed=100.0)
        server.begin()
        first, second = start(server), start(server)

        await server.stop()

        kinds = [e["event_type"] for e in events_of(server)]
        assert kinds == [
            "server_started",
            "stream_started",
            "stream_started",
            "server_draining",
            "stream_stopped",
            "stream_stopped",
            "server_stopped",
        ]
        stopped = events_of(server, "stream_stopped")
        assert {e["stream_id"] for e in stopped} == {first, second}
        assert all(e["reason"] == "server_draining" for e in stopped)
        assert events_of(server, "server_draining")[0]["streams"] == 2
        assert server.load() == 0 and not server.has_room()

    run(scenario)


@pytest.mark.timeout(10)
def test_a_running_server_samples_its_utilisation() -> None:
    async def scenario() -> None:
        server = new_server(speed=100.0, heartbeat_s=10.0, capacity=4)
        server.begin()
        start(server)
        await asyncio.sleep(0.15)
        await server.stop()
        count_after_stop = len(events_of(server, "server_utilisation"))
        await asyncio.sleep(0.15)

        samples = events_of(server, "server_utilisation")
        assert samples[0]["utilisation"] == 0.25
        assert (samples[0]["streams"], samples[0]["capacity"]) == (1, 4)
        assert len(samples) == count_after_stop  # the sampler stopped with the server

    run(scenario)


@pytest.mark.timeout(10)
def test_every_server_event_wears_the_envelope_with_source_server() -> None:
    async def scenario() -> None:
        server = new_server(speed=100.0, heartbeat_s=5.0)
        server.begin()
        stream_id = start(server)
        await asyncio.sleep(0.12)
        server.seek(stream_id, 12.0)
        await server.stop()

        events = events_of(server)
        kinds = {e["event_type"] for e in events}
        assert {"stream_heartbeat", "server_utilisation", "stream_seeked"} <= kinds
        for event in events:
            assert event.keys() >= ENVELOPE, event
            assert event["source"] == "server"
            assert event["schema_version"] == SCHEMA_VERSION
            assert event["run_id"] == "r1" and event["server_id"] == "s-1"
            assert event["emitted_at"].endswith("Z")
        assert len({e["event_id"] for e in events}) == len(events)

    run(scenario)


# --- the HTTP face ----------------------------------------------------------------------


async def client_for(server: RecordedServer) -> TestClient[Any, Any]:
    client: TestClient[Any, Any] = TestClient(TestServer(server_app(server), host="127.0.0.1"))
    await client.start_server()
    return client


STREAM_REQUEST = {"user_id": "u-1", "session_id": "sess-1", "video_id": "v00002"}


@pytest.mark.timeout(10)
def test_streams_are_started_and_steered_over_http() -> None:
    async def scenario() -> None:
        server = new_server(speed=10.0)
        client = await client_for(server)
        try:
            answer = await client.post("/streams", json={**STREAM_REQUEST, "position_s": 4})
            assert answer.status == 201
            stream_id = (await answer.json())["stream_id"]
            for action, body in [("pause", {}), ("resume", {}), ("seek", {"to_s": 9})]:
                answer = await client.post(f"/streams/{stream_id}/{action}", json=body)
                assert answer.status == 200, action
            answer = await client.post(f"/streams/{stream_id}/stop", json={"reason": "ended"})
            assert answer.status == 200
            health = await (await client.get("/health")).json()
        finally:
            await client.close()

        kinds = [e["event_type"] for e in events_of(server)]
        assert kinds == ["stream_started", "stream_seeked", "stream_stopped"]
        assert events_of(server, "stream_started")[0]["position_s"] == 4.0
        assert events_of(server, "stream_seeked")[0]["position_s"] == 9.0
        assert events_of(server, "stream_stopped")[0]["reason"] == "ended"
        assert health == {"server_id": "s-1", "streams": 0, "capacity": 10, "draining": False}

    run(scenario)


@pytest.mark.timeout(10)
def test_a_full_server_answers_503_to_a_new_stream() -> None:
    async def scenario() -> None:
        server = new_server(speed=10.0, capacity=1)
        client = await client_for(server)
        try:
            first = await client.post("/streams", json=STREAM_REQUEST)
            second = await client.post("/streams", json=STREAM_REQUEST)
        finally:
            await client.close()

        assert (first.status, second.status) == (201, 503)
        assert len(events_of(server, "stream_started")) == 1

    run(scenario)


@pytest.mark.timeout(10)
def test_a_draining_server_answers_503_to_a_new_stream() -> None:
    async def scenario() -> None:
        server = new_server(speed=10.0)
        await server.stop()
        client = await client_for(server)
        try:
            answer = await client.post("/streams", json=STREAM_REQUEST)
        finally:
            await client.close()

        assert answer.status == 503

    run(scenario)


@pytest.mark.parametrize(
    ("action", "body", "status", "error_names"),
    [
        ("pause", {}, 404, "no-such-stream"),
        ("seek", {"to_s": 3}, 404, "no-such-stream"),
        ("rewind", {}, 400, "rewind"),
    ],
)
@pytest.mark.timeout(10)
def test_an_unknown_stream_or_action_is_refused(
    action: str, body: dict[str, Any], status: int, error_names: str
) -> None:
    async def scenario() -> None:
        server = new_server(speed=10.0)
        client = await client_for(server)
        try:
            answer = await client.post(f"/streams/no-such-stream/{action}", json=body)
            error = (await answer.json())["error"]
        finally:
            await client.close()

        assert answer.status == status
        assert error_names in error

    run(scenario)


@pytest.mark.parametrize(
    ("body", "error_names"),
    [
        ({}, "to_s"),
        ({"to_s": "soon"}, "to_s"),
        ({"to_s": None}, "to_s"),
        ({"to_s": "nan"}, "to_s"),
        ({"to_s": [1]}, "to_s"),
        ("not json {", "JSON"),
        ([1, 2], "JSON object"),
    ],
)
@pytest.mark.timeout(10)
def test_a_seek_without_a_numeric_to_s_is_a_bad_request(body: object, error_names: str) -> None:
    async def scenario() -> None:
        server = new_server(speed=10.0)
        stream_id = start(server)
        client = await client_for(server)
        try:
            url = f"/streams/{stream_id}/seek"
            if isinstance(body, str):
                answer = await client.post(url, data=body)
            else:
                answer = await client.post(url, json=body)
            error = (await answer.json())["error"]
        finally:
            await client.close()

        assert answer.status == 400
        assert error_names in error
        assert events_of(server, "stream_seeked") == []
        assert server.load() == 1  # the stream plays on

    run(scenario)


# --- draining and silence ---------------------------------------------------------------


@pytest.mark.timeout(10)
def test_a_draining_server_keeps_its_streams_and_takes_no_new_ones() -> None:
    async def scenario() -> None:
        server = new_server(speed=100.0)
        server.begin()
        playing = start(server)

        server.drain()
        server.drain()  # said once
        server.seek(playing, 20.0)
        server.stop_stream(playing, "ended")
        await server.stop()

        assert not server.has_room()
        kinds = [e["event_type"] for e in events_of(server)]
        assert kinds.count("server_draining") == 1
        [stopped] = events_of(server, "stream_stopped")
        assert stopped["reason"] == "ended"
        assert events_of(server, "server_stopped")[0]["streams_cut"] == 0

    run(scenario)


@pytest.mark.timeout(10)
def test_stopping_before_the_drain_ends_counts_the_streams_it_cut() -> None:
    async def scenario() -> None:
        server = new_server(speed=100.0)
        start(server)
        server.drain()

        await server.stop()

        assert events_of(server, "server_stopped")[0]["streams_cut"] == 1

    run(scenario)


@pytest.mark.timeout(10)
def test_silent_streams_stop_as_timeout_when_playing_and_paused_when_paused() -> None:
    async def scenario() -> None:
        clock = SiteClock.starting_now(1000.0)
        events: list[Event] = []
        server = StreamServer(
            "s-1", 10, 10.0, clock, "r1", events.append, stream_timeout_s=100, pause_stop_s=40
        )
        playing, paused, chatty = start(server), start(server), start(server)
        server.pause(paused)
        await asyncio.sleep(0.06)  # 60 site seconds
        server.stop_silent_streams()
        assert [e["reason"] for e in events if e["event_type"] == "stream_stopped"] == ["paused"]

        server.seek(chatty, 5.0)  # a word from its user
        await asyncio.sleep(0.06)
        server.stop_silent_streams()

        stopped = {
            e["stream_id"]: e["reason"] for e in events if e["event_type"] == "stream_stopped"
        }
        assert stopped == {paused: "paused", playing: "timeout"}
        assert server.holds(chatty)

    run(scenario)


def test_a_snapshot_lists_each_stream_with_where_it_is() -> None:
    async def scenario() -> None:
        server = new_server(speed=1.0)
        stream_id = start(server, position_s=42.0)
        server.pause(stream_id)

        [entry] = server.snapshot()

        assert entry["stream_id"] == stream_id
        assert (entry["user_id"], entry["session_id"], entry["video_id"]) == (
            "u-1",
            "sess-1",
            "v00001",
        )
        assert entry["position_s"] == pytest.approx(42.0, abs=0.5)
        assert entry["playing"] is False

    run(scenario)


@pytest.mark.parametrize(
    ("data", "headers", "expected"),
    [
        ("[" * 200_000, {}, 400),  # nesting deeper than any parser recurses
        # The body is read as bytes, so a charset nobody knows does not stop a good seek.
        ('{"to_s": 1}', {"Content-Type": "application/json; charset=no-such-charset"}, 200),
    ],
)
@pytest.mark.timeout(10)
def test_a_body_no_parser_can_take_is_a_bad_request_not_a_crash(
    data: str, headers: dict[str, str], expected: int
) -> None:
    async def scenario() -> None:
        server = new_server(speed=10.0)
        stream_id = start(server)
        client = await client_for(server)
        try:
            answer = await client.post(f"/streams/{stream_id}/seek", data=data, headers=headers)
            status = answer.status
        finally:
            await client.close()

        assert status == expected

    run(scenario)


START_BODY = {"user_id": "u", "session_id": "s", "video_id": "v"}


@pytest.mark.parametrize(
    ("path", "body", "names"),
    [
        (
            "/streams",
            {"user_id": "u", "session_id": "s", "video_id": "v", "position_s": -3},
            "position_s",
        ),
        ("/streams/{stream}/stop", {"reason": "server_lost"}, "reason"),
        ("/streams/{stream}/stop", {"reason": {"a": 1}}, "reason"),
    ],
)
@pytest.mark.timeout(10)
def test_a_negative_start_or_a_stop_reason_only_a_server_gives_is_refused(
    path: str, body: dict[str, Any], names: str
) -> None:
    async def scenario() -> None:
        server = new_server(speed=10.0)
        stream_id = start(server)
        client = await client_for(server)
        try:
            answer = await client.post(path.format(stream=stream_id), json=body)
            status, error = answer.status, (await answer.json())["error"]
        finally:
            await client.close()

        assert status == 400
        assert names in error
        assert server.load() == 1  # nothing started, nothing stopped

    run(scenario)


def test_the_server_remembers_the_site_times_its_life_events_carry() -> None:
    async def scenario() -> None:
        server = new_server(speed=1000.0)
        server.begin()
        await asyncio.sleep(0.01)
        await server.stop()

        [started] = events_of(server, "server_started")
        [stopped] = events_of(server, "server_stopped")
        assert server.started_at is not None and server.stopped_at is not None
        assert format_site_time(server.started_at) == started["emitted_at"]
        assert format_site_time(server.stopped_at) == stopped["emitted_at"]
        assert server.started_at < server.stopped_at

    run(scenario)
