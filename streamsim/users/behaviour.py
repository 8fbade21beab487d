"""One simulated user's session: open the site, watch a few videos, close the browser.

This is the first, plain model of a viewer. Its numbers live in `Behaviour` so that a
richer model (a Markov chain of actions loaded from a file) can replace the script below
without touching the service around it.
"""

from __future__ import annotations

import logging
import math
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from streamsim.clock import SiteClock
from streamsim.events import EventType, Source, new_event
from streamsim.users.catalogue import Catalogue, Video
from streamsim.users.player import NoServerAvailable, Player, StreamHandle, StreamLost

log = logging.getLogger(__name__)

COUNTRIES = ("US", "IN", "BR", "DE", "GB", "FR", "JP", "ID", "MX", "NG")
DEVICES = ("mobile", "desktop", "tv", "tablet")


@dataclass(frozen=True)
class Behaviour:
    """How a viewer behaves; every duration is in site seconds."""

    videos_mean: float = 2.5  # videos per session (geometric)
    think_median_s: float = 8.0  # time on a page before the next click
    watch_median_s: float = 90.0  # how long a viewer means to watch one video
    pause_chance: float = 0.04  # per heartbeat of play
    pause_median_s: float = 20.0
    seek_chance: float = 0.03  # per heartbeat of play
    busy_retry_s: float = 2.0  # wait before asking again when every server is full
    busy_give_up_s: float = 120.0  # a viewer waits this long for a video at most


@dataclass
class UserState:
    """What the user service can tell about a user while it lives."""

    user_id: str
    session_id: str
    action: str = "starting"
    videos_watched: int = 0


class SimulatedUser:
    """An independent viewer: its own randomness, state and stream, shared with no one."""

    def __init__(
        self,
        user_id: str,
        seed: int,
        *,
        behaviour: Behaviour,
        catalogue: Catalogue,
        clock: SiteClock,
        player: Player,
        emit: Callable[[dict[str, Any]], None],
        heartbeat_s: float,
        run_id: str,
    ) -> None:
        self._rng = random.Random(seed)
        self._b = behaviour
        self._catalogue = catalogue
        self._clock = clock
        self._player = player
        self._emit = emit
        self._heartbeat_s = heartbeat_s
        self._run_id = run_id
        self.state = UserState(user_id, str(uuid.UUID(int=self._rng.getrandbits(128))))
        self._stream: StreamHandle | None = None
        self._country = self._rng.choice(COUNTRIES)
        self._device = self._rng.choice(DEVICES)

    async def live(self) -> None:
        """The whole session; cancelling it closes the browser at once."""
        self._event(EventType.SESSION_STARTED, country=self._country, device=self._device)
        try:
            self._event(EventType.PAGE_VIEWED, page="home")
            for _ in range(self._videos_to_watch()):
                await self._think()
                await self._watch(self._catalogue.pick(self._rng))
                self.state.videos_watched += 1
        finally:
            await self._close_browser()

    async def _close_browser(self) -> None:
        self.state.action = "closing"
        if self._stream is not None:
            await self._stop_stream("user_left")
        self._event(EventType.SESSION_ENDED, videos_watched=self.state.videos_watched)

    def _videos_to_watch(self) -> int:
        count = 1
        while self._rng.random() > 1.0 / self._b.videos_mean:
            count += 1
        return count

    async def _think(self) -> None:
        self.state.action = "browsing"
        await self._clock.sleep(self._rng.lognormvariate(_ln(self._b.think_median_s), 0.6))

    async def _watch(self, video: Video) -> None:
        self.state.action = f"opening {video.video_id}"
        self._event(EventType.VIDEO_OPENED, video_id=video.video_id)
        opened_at = self._clock.now()
        self._stream = await self._open_stream(video)
        if self._stream is None:
            return
        start_ms = round((self._clock.now() - opened_at) * 1000)
        self._event(
            EventType.PLAYBACK_STARTED,
            video_id=video.video_id,
            position_s=0.0,
            server_id=self._stream.server_id,
            stream_id=self._stream.stream_id,
            video_start_time_ms=start_ms,
        )
        try:
            ended = await self._play(video)
        except StreamLost as lost:
            log.debug("user %s lost its stream: %s", self.state.user_id, lost)
            self._stream = None
            return
        self._event(
            EventType.VIDEO_ENDED if ended else EventType.VIDEO_SKIPPED, video_id=video.video_id
        )
        await self._stop_stream("ended" if ended else "user_left")

    async def _open_stream(self, video: Video) -> StreamHandle | None:
        """Ask until a server has room; a long wait shows as a long video start time."""
        request = {
            "user_id": self.state.user_id,
            "session_id": self.state.session_id,
            "video_id": video.video_id,
            "position_s": 0.0,
        }
        waited = 0.0
        while waited < self._b.busy_give_up_s:
            try:
                return await self._player.start(request)
            except NoServerAvailable:
                await self._clock.sleep(self._b.busy_retry_s)
                waited += self._b.busy_retry_s
        return None

    async def _play(self, video: Video) -> bool:
        """Play until the viewer's planned watch time runs out or the video ends."""
        self.state.action = f"watching {video.video_id}"
        position = 0.0
        wants = self._rng.lognormvariate(_ln(self._b.watch_median_s), 1.0)
        while wants > 0 and position < video.duration_s:
            played = min(self._heartbeat_s, wants, video.duration_s - position)
            await self._clock.sleep(played)
            position, wants = position + played, wants - played
            if played < self._heartbeat_s:
                break  # the viewer stops before the next beat is due
            self._event(
                EventType.HEARTBEAT,
                video_id=video.video_id,
                position_s=round(position, 3),
                stream_id=self._stream_id(),
            )
            position = await self._maybe_interrupt(video, position)
        return position >= video.duration_s

    async def _maybe_interrupt(self, video: Video, position: float) -> float:
        draw = self._rng.random()
        if draw < self._b.pause_chance:
            await self._pause(video, position)
        elif draw < self._b.pause_chance + self._b.seek_chance:
            return await self._seek(video, position)
        return position

    async def _pause(self, video: Video, position: float) -> None:
        assert self._stream is not None
        self._event(EventType.PLAYBACK_PAUSED, video_id=video.video_id, position_s=position)
        await self._player.act(self._stream, "pause")
        self.state.action = "paused"
        await self._clock.sleep(self._rng.lognormvariate(_ln(self._b.pause_median_s), 0.8))
        self._event(EventType.PLAYBACK_RESUMED, video_id=video.video_id, position_s=position)
        await self._player.act(self._stream, "resume")
        self.state.action = f"watching {video.video_id}"

    async def _seek(self, video: Video, position: float) -> float:
        assert self._stream is not None
        target = round(self._rng.uniform(0.0, video.duration_s * 0.95), 3)
        self._event(
            EventType.PLAYBACK_SEEKED,
            video_id=video.video_id,
            from_s=round(position, 3),
            to_s=target,
        )
        await self._player.act(self._stream, "seek", to_s=target)
        return target

    async def _stop_stream(self, reason: str) -> None:
        stream, self._stream = self._stream, None
        if stream is None:
            return
        try:
            await self._player.act(stream, "stop", reason=reason)
        except StreamLost:
            pass  # the server is gone, and its streams with it

    def _stream_id(self) -> str | None:
        return self._stream.stream_id if self._stream else None

    def _event(self, kind: EventType, **fields: Any) -> None:
        self._emit(
            new_event(
                kind,
                Source.USER,
                site_time=self._clock.now(),
                run_id=self._run_id,
                user_id=self.state.user_id,
                session_id=self.state.session_id,
                **fields,
            )
        )


def _ln(median: float) -> float:
    """Log-normal distributions are given by their median, which is exp(mu)."""
    return math.log(median)
