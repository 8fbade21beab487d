"""Every event type the simulators emit; `docs/events.md` documents each one's fields."""

from enum import StrEnum


class EventType(StrEnum):
    # What a user does, as the player in the browser reports it.
    SESSION_STARTED = "session_started"
    PAGE_VIEWED = "page_viewed"
    VIDEO_OPENED = "video_opened"
    PLAYBACK_STARTED = "playback_started"
    PLAYBACK_ABANDONED = "playback_abandoned"
    PLAYBACK_PAUSED = "playback_paused"
    PLAYBACK_RESUMED = "playback_resumed"
    PLAYBACK_SEEKED = "playback_seeked"
    HEARTBEAT = "heartbeat"
    VIDEO_ENDED = "video_ended"
    VIDEO_SKIPPED = "video_skipped"
    SESSION_ENDED = "session_ended"
    # What a streaming server sees of its streams and of its own life.
    STREAM_STARTED = "stream_started"
    STREAM_SEEKED = "stream_seeked"
    STREAM_HEARTBEAT = "stream_heartbeat"
    STREAM_STOPPED = "stream_stopped"
    SERVER_STARTED = "server_started"
    SERVER_DRAINING = "server_draining"
    SERVER_STOPPED = "server_stopped"
    SERVER_UTILISATION = "server_utilisation"
    SCALING_DECIDED = "scaling_decided"
    # What the person running the simulation changed.
    SETTINGS_CHANGED = "settings_changed"


USER_EVENT_TYPES = frozenset(
    {
        EventType.SESSION_STARTED,
        EventType.PAGE_VIEWED,
        EventType.VIDEO_OPENED,
        EventType.PLAYBACK_STARTED,
        EventType.PLAYBACK_ABANDONED,
        EventType.PLAYBACK_PAUSED,
        EventType.PLAYBACK_RESUMED,
        EventType.PLAYBACK_SEEKED,
        EventType.HEARTBEAT,
        EventType.VIDEO_ENDED,
        EventType.VIDEO_SKIPPED,
        EventType.SESSION_ENDED,
    }
)
SERVER_EVENT_TYPES = frozenset(
    {
        EventType.STREAM_STARTED,
        EventType.STREAM_SEEKED,
        EventType.STREAM_HEARTBEAT,
        EventType.STREAM_STOPPED,
        EventType.SERVER_STARTED,
        EventType.SERVER_DRAINING,
        EventType.SERVER_STOPPED,
        EventType.SERVER_UTILISATION,
        EventType.SCALING_DECIDED,
    }
)
ORCHESTRATOR_EVENT_TYPES = frozenset({EventType.SETTINGS_CHANGED})
