"""A streaming server: serves streams over HTTP and emits what it sees of them."""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections.abc import Callable
from typing import Any

from aiohttp import web

from streamsim.clock import SiteClock
from streamsim.events import EventType, Source, new_event
from streamsim.servers.stream import Stream
from streamsim.webserve import bad_request, read_object

log = logging.getLogger(__name__)


class StreamServer:
    """Holds up to `capacity` streams; knows only what users send it."""

    def __init__(
        self,
        server_id: str,
        capacity: int,
        heartbeat_s: float,
        clock: SiteClock,
        run_id: str,
        emit: Callable[[dict[str, Any]], None],
        *,
        stream_timeout_s: float = 4 * 3600.0,
        pause_stop_s: float = 600.0,
    ) -> None:
        self.server_id = server_id
        self.capacity = capacity
        self._heartbeat_s = heartbeat_s
        self._clock = clock
        self._run_id = run_id
        self._emit = emit
        self._stream_timeout_s = stream_timeout_s
        self._pause_stop_s = pause_stop_s
        self._streams: dict[str, Stream] = {}
        self._beats: dict[str, asyncio.Task[None]] = {}
        self._sampler: asyncio.Task[None] | None = None
        self.draining = False
        # Site times of its server_started and server_stopped, for the group's record.
        self.started_at: float | None = None
        self.stopped_at: float | None = None

    # --- life -------------------------------------------------------------------------

    def begin(self) -> None:
        self.started_at = self._clock.now()
        self._event(EventType.SERVER_STARTED, self.started_at, capacity=self.capacity)
        self._sampler = asyncio.get_running_loop().create_task(self._every_heartbeat())

    def drain(self) -> None:
        """Take no new streams; the ones playing go on until their users stop them."""
        if not self.draining:
            self.draining = True
            self._event(EventType.SERVER_DRAINING, streams=len(self._streams))

    async def stop(self) -> None:
        """Drain, cut whatever still plays (`server_draining`), then say the server is gone.

        `streams_cut` on `server_stopped` says how many streams the stop cut: zero when
        the group waited for the drain to finish.
        """
        self.drain()
        cut = list(self._streams)
        for stream_id in cut:
            self.stop_stream(stream_id, "server_draining")
        if self._sampler is not None:
            self._sampler.cancel()
        self.stopped_at = self._clock.now()
        self._event(EventType.SERVER_STOPPED, self.stopped_at, streams_cut=len(cut))

    def load(self) -> int:
        return len(self._streams)

    def holds(self, stream_id: str) -> bool:
        return stream_id in self._streams

    def has_room(self) -> bool:
        return not self.draining and len(self._streams) < self.capacity

    def snapshot(self) -> list[dict[str, Any]]:
        """Each stream as the router needs it to speak for this server should it die."""
        now = self._clock.now()
        return [
            {
                "stream_id": s.stream_id,
                "user_id": s.user_id,
                "session_id": s.session_id,
                "video_id": s.video_id,
                "position_s": round(s.position_s(now), 3),
                "playing": s.playing,
                "site_time": now,
            }
            for s in self._streams.values()
        ]

    # --- streams ----------------------------------------------------------------------

    def start_stream(self, user_id: str, session_id: str, video_id: str, position_s: float) -> str:
        stream_id = str(uuid.uuid4())
        now = self._clock.now()
        stream = Stream(stream_id, user_id, session_id, video_id, position_s, now)
        self._streams[stream_id] = stream
        self._stream_event(EventType.STREAM_STARTED, stream, now)
        self._start_beats(stream)
        return stream_id

    def seek(self, stream_id: str, to_s: float) -> None:
        stream, now = self._streams[stream_id], self._clock.now()
        from_s = stream.position_s(now)
        stream.restart_at(to_s, now, playing=stream.playing)
        self._stream_event(EventType.STREAM_SEEKED, stream, now, from_s=round(from_s, 3))
        if stream.playing:
            self._start_beats(stream)

    def pause(self, stream_id: str) -> None:
        stream, now = self._streams[stream_id], self._clock.now()
        stream.restart_at(stream.position_s(now), now, playing=False)
        self._stop_beats(stream_id)

    def resume(self, stream_id: str) -> None:
        stream, now = self._streams[stream_id], self._clock.now()
        stream.restart_at(stream.position_s(now), now, playing=True)
        self._start_beats(stream)

    def stop_stream(self, stream_id: str, reason: str) -> None:
        stream, now = self._streams.pop(stream_id), self._clock.now()
        self._stop_beats(stream_id)
        self._stream_event(EventType.STREAM_STOPPED, stream, now, reason=reason)

    # --- heartbeats and samples -------------------------------------------------------

    def _start_beats(self, stream: Stream) -> None:
        """A beat marks each `heartbeat_s` of continuous play, so a restart resets it."""
        self._stop_beats(stream.stream_id)
        loop = asyncio.get_running_loop()
        self._beats[stream.stream_id] = loop.create_task(self._beat(stream))

    def _stop_beats(self, stream_id: str) -> None:
        beat = self._beats.pop(stream_id, None)
        if beat is not None:
            beat.cancel()

    async def _beat(self, stream: Stream) -> None:
        """Beats keep to the schedule set at the (re)start, so lateness cannot add up."""
        beats = 0
        while True:
            beats += 1
            due = stream.anchor_site_time + beats * self._heartbeat_s
            await self._clock.sleep(due - self._clock.now())
            self._stream_event(EventType.STREAM_HEARTBEAT, stream, self._clock.now())

    async def _every_heartbeat(self) -> None:
        while True:
            await self._clock.sleep(self._heartbeat_s)
            self.stop_silent_streams()
            self._event(
                EventType.SERVER_UTILISATION,
                streams=len(self._streams),
                capacity=self.capacity,
                utilisation=round(len(self._streams) / self.capacity, 4),
            )

    def stop_silent_streams(self) -> None:
        """Free the slots of users who went quiet: gone (`timeout`) or away (`paused`).

        Every request from a user restarts its stream's anchor, so the time since the
        anchor is how long the server has not heard from it.
        """
        now = self._clock.now()
        for stream in list(self._streams.values()):
            silent_s = now - stream.anchor_site_time
            if stream.playing and silent_s > self._stream_timeout_s:
                self.stop_stream(stream.stream_id, "timeout")
            elif not stream.playing and silent_s > self._pause_stop_s:
                self.stop_stream(stream.stream_id, "paused")

    def _stream_event(self, kind: EventType, stream: Stream, now: float, **fields: Any) -> None:
        self._event(
            kind,
            now,
            user_id=stream.user_id,
            session_id=stream.session_id,
            stream_id=stream.stream_id,
            video_id=stream.video_id,
            position_s=round(stream.position_s(now), 3),
            **fields,
        )

    def _event(self, kind: EventType, now: float | None = None, **fields: Any) -> None:
        site_time = self._clock.now() if now is None else now
        self._emit(
            new_event(
                kind,
                Source.SERVER,
                site_time=site_time,
                run_id=self._run_id,
                server_id=self.server_id,
                **fields,
            )
        )


ACTIONS = ("seek", "pause", "resume", "stop")
# The reasons a user gives; the server's own (paused, timeout, draining) it gives itself.
USER_STOP_REASONS = ("ended", "user_left")


def server_app(server: StreamServer) -> web.Application:
    """The HTTP face of one server: users start, steer and stop their streams here."""
    routes = web.RouteTableDef()

    @routes.get("/health")
    async def health(_: web.Request) -> web.Response:
        return web.json_response(
            {
                "server_id": server.server_id,
                "streams": server.load(),
                "capacity": server.capacity,
                "draining": server.draining,
            }
        )

    @routes.post("/streams")
    async def start(request: web.Request) -> web.Response:
        body = await read_object(request)
        user_id, session_id = _text(body, "user_id"), _text(body, "session_id")
        video_id, position = _text(body, "video_id"), _number(body, "position_s", 0.0)
        if position < 0:
            raise bad_request(f"'position_s' must not be negative, got {position}")
        if not server.has_room():
            return web.json_response({"error": "server full"}, status=503)
        stream_id = server.start_stream(user_id, session_id, video_id, position)
        return web.json_response(
            {"stream_id": stream_id, "server_id": server.server_id}, status=201
        )

    @routes.post("/streams/{stream_id}/{action}")
    async def act(request: web.Request) -> web.Response:
        stream_id, action = request.match_info["stream_id"], request.match_info["action"]
        body = await read_object(request) if request.can_read_body else {}
        if action not in ACTIONS:
            raise bad_request(f"unknown action {action!r}: {', '.join(ACTIONS)}")
        if not server.holds(stream_id):
            return web.json_response({"error": f"no stream {stream_id}"}, status=404)
        _apply(server, stream_id, action, body)
        return web.json_response({"stream_id": stream_id, "action": action})

    app = web.Application()
    app.add_routes(routes)
    return app


def _apply(server: StreamServer, stream_id: str, action: str, body: dict[str, Any]) -> None:
    if action == "seek":
        to_s = _number(body, "to_s")
        if to_s < 0:
            raise bad_request(f"'to_s' must not be negative, got {to_s}")
        server.seek(stream_id, to_s)
    elif action == "pause":
        server.pause(stream_id)
    elif action == "resume":
        server.resume(stream_id)
    else:
        reason = body.get("reason", "user_left")
        if reason not in USER_STOP_REASONS:
            raise bad_request(f"'reason' must be one of {', '.join(USER_STOP_REASONS)}")
        server.stop_stream(stream_id, reason)


def _text(body: dict[str, Any], field: str) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value:
        raise bad_request(f"{field!r} must be a non-empty string, got {value!r}")
    return value


def _number(body: dict[str, Any], field: str, default: float | None = None) -> float:
    """A body field as a finite number; a 400 naming the field otherwise."""
    raw = body.get(field, default)
    try:
        value = math.nan if isinstance(raw, bool) or raw is None else float(raw)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value):
        raise bad_request(f"{field!r} must be a number, got {raw!r}")
    return value
