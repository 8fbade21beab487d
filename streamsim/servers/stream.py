"""One stream as a server sees it: where it is in the video, and whether it plays."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Stream:
    """Playback state the server can know from the user's requests, and nothing more."""

    stream_id: str
    user_id: str
    session_id: str
    video_id: str
    anchor_position_s: float  # position when playing last (re)started
    anchor_site_time: float  # site time of that (re)start
    playing: bool = True

    def position_s(self, site_now: float) -> float:
        if not self.playing:
            return self.anchor_position_s
        return self.anchor_position_s + (site_now - self.anchor_site_time)

    def restart_at(self, position_s: float, site_now: float, playing: bool) -> None:
        self.anchor_position_s = position_s
        self.anchor_site_time = site_now
        self.playing = playing
