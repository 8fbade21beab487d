"""One simulated viewer: a walk on the behaviour model's Markov chain, from open to close.

At each step the user draws its next action from the row of the state it is in, then the
action's duration and attributes (which video, how far to seek, how long to pause), does
it, and waits that long in site time. Everything it draws comes from its own generator,
seeded at creation, so a seed and a model give the same life; the user shares nothing
mutable with any other.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections import Counter, deque
from collections.abc import Callable, Mapping
from typing import Any

from streamsim.clock import SiteClock
from streamsim.events import EventType, Source, new_event
from streamsim.users.catalogue import Catalogue, Video
from streamsim.users.faults import FaultInjector, FaultKind, FaultOutlet
from streamsim.users.model import OPEN_ACTIONS, PAGE_ACTIONS, BehaviourModel
from streamsim.users.player import NoServerAvailable, Player, StreamHandle, StreamLost
from streamsim.users.traits import TraitChoices, draw_traits

log = logging.getLogger(__name__)

Step = Callable[[str, str, float], None]  # (state, next action, drawn duration)
RECENT_ACTIONS = 20


class SimulatedUser:
    """An independent viewer with its own randomness, state and stream."""

    def __init__(
        self,
        user_id: str,
        seed: int,
        *,
        model: BehaviourModel,
        catalogue: Catalogue,
        clock: SiteClock,
        player: Player,
        emit: Callable[[dict[str, Any]], None],
        heartbeat_s: float,
        run_id: str,
        traits: TraitChoices | None = None,
        error_factor: float = 0.0,
        faults: FaultOutlet | None = None,
        fault_weights: Mapping[FaultKind, float] | None = None,
        on_step: Step | None = None,
    ) -> None:
        self.user_id = user_id
        self.seed = seed
        self.error_factor = error_factor
        self._send = emit
        self._faults: FaultInjector | None = None
        if error_factor > 0:
            if faults is None:
                raise ValueError("a user with an error factor needs an outlet for its faults")
            self._faults = FaultInjector(
                seed=seed,
                error_factor=error_factor,
                weights=fault_weights or {},
                catalogue=catalogue,
                emit=emit,
                outlet=faults,
                now=clock.now,
            )
            self._send = self._faults.send
        self._rng = random.Random(seed)
        self.session_id = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        self.traits = draw_traits(model, catalogue.categories, self._rng, traits)
        self._model, self._catalogue, self._clock = model, catalogue, clock
        self._player, self._heartbeat_s = player, heartbeat_s
        self._run_id, self._on_step = run_id, on_step
        self.state, self.action = "starting", "start"
        self.done: Counter[str] = Counter()
        self.recent: deque[str] = deque(maxlen=RECENT_ACTIONS)
        self.videos_watched = 0
        self.video: Video | None = None
        self.position_s = 0.0
        self._stream: StreamHandle | None = None
        self._late_stops: set[asyncio.Future[None]] = set()
        self._video_over = True  # no video, or its stream is already done
        self._since_beat = 0.0
        self._page: tuple[str, int, str | None] = ("home", 1, None)  # kind, number, category

    # --- the session ------------------------------------------------------------------

    async def live(self) -> None:
        """The whole session; cancelling it closes the browser at once."""
        traits = self.traits
        self._event(
            EventType.SESSION_STARTED,
            country=traits.country,
            device=traits.device,
            browser=traits.browser,
            connection=traits.connection,
        )
        try:
            await self._walk()
        finally:
            await self._close_browser()
            if self._faults is not None:
                self._faults.flush()

    async def _walk(self) -> None:
        state = "start"
        while True:
            action = self._model.chain.next_action(state, self._rng)
            if action == "close":
                self._stepped(state, action, 0.0)
                return
            duration = self._model.durations[action].sample(self._rng)
            self._stepped(state, action, duration)
            state = await self._perform(action, duration)
            if state in ("video_end", "gave_up"):
                linger = self._model.durations[state].sample(self._rng)
                self._stepped(action, state, linger)
                await self._clock.sleep(linger)

    def _stepped(self, state: str, action: str, duration: float) -> None:
        self.action = action
        self.done[action] += 1
        self.recent.append(action)
        if self._on_step is not None:
            self._on_step(state, action, duration)

    async def _perform(self, action: str, duration: float) -> str:
        """Do `action`, then let `duration` pass; the answer is the chain's next state."""
        if action in PAGE_ACTIONS:
            await self._leave_video(action)
            self._view_page(action)
            await self._clock.sleep(duration)
            return action
        if action in OPEN_ACTIONS:
            await self._leave_video(action)
            self._open(action)
            await self._clock.sleep(duration)
            return action
        if action == "pause":
            await self._pause(duration)
            return action
        if not await self._before_playing(action):
            return "gave_up"
        ended_with = await self._play_for(duration * self.traits.watch_scale)
        return ended_with or action

    async def _before_playing(self, action: str) -> bool:
        """Start, resume or seek the stream; False when no stream could be had."""
        if action == "play":
            return await self._start_playback(0.0)
        if action == "resume":
            self._event(EventType.PLAYBACK_RESUMED, **self._where())
            self._since_beat = 0.0
            return await self._steer("resume")
        if action in ("seek_forward", "seek_back"):
            return await self._seek(forward=action == "seek_forward")
        return True  # watch: keep playing

    async def _close_browser(self) -> None:
        self.state = "closing"
        if self.video is not None and not self._video_over:
            self._event(EventType.VIDEO_SKIPPED, **self._where(), next="close")
        await self._stop_stream("user_left")
        self._event(EventType.SESSION_ENDED, videos_watched=self.videos_watched)
        self.state = "closed"

    # --- pages and videos -------------------------------------------------------------

    def _view_page(self, action: str) -> None:
        self.state = "browsing"
        kind, number, category = self._page
        if action == "next_page":
            number += 1
        elif action == "browse":
            kind, number, category = "browse", 1, self.traits.favourite(self._rng)
        else:
            kind, number, category = action, 1, None
        self._page = (kind, number, category)
        self._event(EventType.PAGE_VIEWED, page=kind, page_number=number, category=category)

    def _open(self, via: str) -> None:
        self.state = "browsing"
        video = self._choose_video(via)
        if self.video is not None and video.video_id == self.video.video_id:
            video = self._catalogue.pick(self._rng)  # the site does not offer the same one
        self.video, self.position_s, self._video_over = video, 0.0, False
        self._event(
            EventType.VIDEO_OPENED, video_id=video.video_id, category=video.category, via=via
        )

    def _choose_video(self, via: str) -> Video:
        """Taste steers every pick; up-next also keeps to the current category."""
        attributes, rng = self._model.attributes, self._rng
        kind, _, category = self._page
        if via == "next_video" and self.video is not None:
            if rng.random() < attributes.up_next_same_category:
                return self._catalogue.pick_in(self.video.category, rng)
        elif via == "open_video" and kind == "browse" and category is not None:
            return self._catalogue.pick_in(category, rng)
        if rng.random() < attributes.follow_taste:
            return self._catalogue.pick_in(self.traits.favourite(rng), rng)
        return self._catalogue.pick(rng)

    async def _leave_video(self, to: str) -> None:
        if self.video is not None and not self._video_over:
            self._event(EventType.VIDEO_SKIPPED, **self._where(), next=to)
        await self._stop_stream("user_left")
        self.video, self._video_over = None, True

    # --- the player -------------------------------------------------------------------

    async def _start_playback(self, position_s: float, **restart: str) -> bool:
        """Get a stream and show its first frame, unless the viewer's patience runs out.

        The time to the first frame is the wait for a server with room plus the time the
        viewer's connection takes; it is reported as `video_start_time_ms`.
        """
        assert self.video is not None
        self.state = "waiting"
        opened_at = self._clock.now()
        network_s = self._connection_delay_s()
        deadline = opened_at + self.traits.patience_s
        stream, refusals = await self._ask_for_stream(position_s, deadline)
        self._stream = stream  # held from now on, so closing the browser stops it
        too_slow = stream is not None and self._clock.now() + network_s > deadline
        if stream is None or too_slow:
            await self._stop_stream("user_left")
            await self._clock.sleep(deadline - self._clock.now())
            self._abandon(opened_at, refusals, "slow_start" if too_slow else "no_server")
            return False
        await self._clock.sleep(network_s)
        self.position_s, self._since_beat = position_s, 0.0
        self.videos_watched += 0 if restart else 1
        self.state = "watching"
        self._event(
            EventType.PLAYBACK_STARTED,
            **self._where(),
            server_id=stream.server_id,
            stream_id=stream.stream_id,
            video_start_time_ms=round((self._clock.now() - opened_at) * 1000),
            **restart,
        )
        return True

    def _connection_delay_s(self) -> float:
        connection = self._model.traits.connections[self.traits.connection]
        return connection.startup_ms.sample(self._rng) / 1000.0

    async def _ask_for_stream(
        self, position_s: float, deadline: float
    ) -> tuple[StreamHandle | None, int]:
        """Ask the router until a server has room or patience runs out; (stream, refusals)."""
        assert self.video is not None
        request = {
            "user_id": self.user_id,
            "session_id": self.session_id,
            "video_id": self.video.video_id,
            "position_s": round(position_s, 3),
        }
        refusals = 0
        while (left := deadline - self._clock.now()) > 0:
            try:
                # A slow router is a wait like any other: it may not outlast the patience.
                timeout = self._clock.real_seconds(left)
                return await self._start_within(request, timeout), refusals
            except (NoServerAvailable, TimeoutError):
                refusals += 1
            await self._clock.sleep(min(self._model.player.retry_s, deadline - self._clock.now()))
        return None, refusals

    async def _start_within(self, request: dict[str, Any], timeout_s: float) -> StreamHandle:
        """Ask for a stream, waiting `timeout_s` at most; a stream granted late is stopped.

        Giving up on the request does not undo it: the server may already hold the stream,
        which would then play to nobody and keep a slot from everyone else. So the request
        runs to its end, and a stream it brings after the user stopped waiting (or closed
        the browser) is stopped at once.
        """
        start = asyncio.ensure_future(self._player.start(request))
        try:
            return await asyncio.wait_for(asyncio.shield(start), timeout_s)
        except BaseException:
            start.add_done_callback(self._stop_if_granted)
            raise

    def _stop_if_granted(self, start: asyncio.Future[StreamHandle]) -> None:
        if start.cancelled() or start.exception() is not None:
            return
        stop = asyncio.ensure_future(self._stop_late_stream(start.result()))
        self._late_stops.add(stop)
        stop.add_done_callback(self._late_stops.discard)

    async def _stop_late_stream(self, stream: StreamHandle) -> None:
        try:
            await self._player.act(stream, "stop", reason="user_left")
        except StreamLost:
            pass  # its server is gone, and the stream with it

    def _abandon(self, opened_at: float, refusals: int, reason: str) -> None:
        """An exit before video start: the analyst counts these, with the wait behind them."""
        assert self.video is not None
        self.state = "browsing"
        self._video_over = True
        self._event(
            EventType.PLAYBACK_ABANDONED,
            **self._where(),
            waited_ms=round((self._clock.now() - opened_at) * 1000),
            refusals=refusals,
            reason=reason,
        )

    async def _play_for(self, seconds: float) -> str | None:
        """Play for `seconds`, a heartbeat each `heartbeat_s` of play.

        Returns the state playing ended in: `video_end`, `gave_up` (its server was lost and
        no other took the stream within the viewer's patience), or None when the stretch of
        play simply ran out.
        """
        assert self.video is not None
        self.state = "watching"
        video, left = self.video, seconds
        while left > 0:
            step = min(
                left, video.duration_s - self.position_s, self._heartbeat_s - self._since_beat
            )
            await self._clock.sleep(step)
            left -= step
            self.position_s += step
            self._since_beat += step
            if self._since_beat >= self._heartbeat_s - 1e-9:
                self._since_beat = 0.0
                if not await self._still_streaming():
                    return "gave_up"
                self._event(EventType.HEARTBEAT, **self._where(), stream_id=self._stream_id())
            if self.position_s >= video.duration_s - 1e-9:
                await self._end_video()
                return "video_end"
        return None

    async def _still_streaming(self) -> bool:
        """A stalled video: its server is gone, so start again elsewhere at the same place."""
        if self._stream is None or self._player.still_serving(self._stream):
            return True
        log.debug("user %s: server %s is gone", self.user_id, self._stream.server_id)
        await self._stop_stream("user_left")  # should the list have been wrong, free the slot
        return await self._start_playback(self.position_s, restart_reason="stream_lost")

    async def _end_video(self) -> None:
        self.position_s = self.video.duration_s if self.video else self.position_s
        self._event(EventType.VIDEO_ENDED, **self._where())
        self._video_over = True
        await self._stop_stream("ended")
        self.state = "browsing"

    async def _pause(self, duration: float) -> None:
        self._event(EventType.PLAYBACK_PAUSED, **self._where())
        if await self._steer("pause"):
            self.state = "paused"
        await self._clock.sleep(duration)

    async def _seek(self, forward: bool) -> bool:
        assert self.video is not None
        attributes = self._model.attributes
        distance = (attributes.seek_forward_s if forward else attributes.seek_back_s).sample(
            self._rng
        )
        target = self.position_s + distance if forward else self.position_s - distance
        target = round(min(max(0.0, target), max(0.0, self.video.duration_s - 1.0)), 3)
        self._event(
            EventType.PLAYBACK_SEEKED,
            video_id=self.video.video_id,
            from_s=round(self.position_s, 3),
            to_s=target,
            direction="forward" if forward else "back",
        )
        self.position_s, self._since_beat = target, 0.0
        return await self._steer("seek", to_s=target)

    async def _steer(self, action: str, **body: Any) -> bool:
        """Tell the server; if it is gone, start again elsewhere at the same place.

        The action that found the server gone is dropped, as a real player drops it while
        it rebuffers. False when no server takes the stream back within the patience.
        """
        if self._stream is None:
            return False
        try:
            await self._player.act(self._stream, action, **body)
            return True
        except StreamLost as lost:
            log.debug("user %s lost its stream: %s", self.user_id, lost)
            self._stream = None
        if not await self._start_playback(self.position_s, restart_reason="stream_lost"):
            return False
        if action == "pause" and self._stream is not None:
            await self._pause_again(self._stream)
        return True

    async def _pause_again(self, stream: StreamHandle) -> None:
        """A pause that found the server gone still pauses the stream that replaced it."""
        try:
            await self._player.act(stream, "pause")
        except StreamLost:
            self._stream = None

    async def _stop_stream(self, reason: str) -> None:
        stream, self._stream = self._stream, None
        if stream is None:
            return
        try:
            await self._player.act(stream, "stop", reason=reason)
        except StreamLost:
            pass  # the server is gone, and its streams with it

    # --- what the user shows ----------------------------------------------------------

    def _where(self) -> dict[str, Any]:
        assert self.video is not None
        return {"video_id": self.video.video_id, "position_s": round(self.position_s, 3)}

    def _stream_id(self) -> str | None:
        return self._stream.stream_id if self._stream else None

    def describe(self) -> dict[str, Any]:
        """What GET /users/{id} shows: who, what now, and what so far."""
        return {
            "user_id": self.user_id,
            "session_id": self.session_id,
            "seed": self.seed,
            "error_factor": self.error_factor,
            "state": self.state,
            "action": self.action,
            "video_id": self.video.video_id if self.video else None,
            "position_s": round(self.position_s, 3) if self.video else None,
            "videos_watched": self.videos_watched,
            "actions_done": dict(self.done),
            "recent_actions": list(self.recent),
            "traits": self.traits.describe(),
        }

    def _event(self, kind: EventType, **fields: Any) -> None:
        """Every message goes out through the client, faults and all (docs/faults.md)."""
        self._send(
            new_event(
                kind,
                Source.USER,
                site_time=self._clock.now(),
                run_id=self._run_id,
                user_id=self.user_id,
                session_id=self.session_id,
                **fields,
            )
        )
