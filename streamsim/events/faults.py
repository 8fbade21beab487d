"""The names of the faults users can inject: part of the wire's vocabulary, like event types.

What each kind does is `streamsim.users.faults` and `docs/faults.md`; the names live here so
that settings and readers of the truth topic can name them without loading the injector.
"""

from enum import StrEnum


class FaultKind(StrEnum):
    MISSING_FIELD = "missing_field"
    NULL_FIELD = "null_field"
    WRONG_TYPE = "wrong_type"
    UNKNOWN_EVENT_TYPE = "unknown_event_type"
    UNKNOWN_ENUM_VALUE = "unknown_enum_value"
    UNKNOWN_VIDEO_ID = "unknown_video_id"
    NEGATIVE_POSITION = "negative_position"
    IMPOSSIBLE_POSITION = "impossible_position"
    CLOCK_SKEW_PAST = "clock_skew_past"
    CLOCK_SKEW_FUTURE = "clock_skew_future"
    UNKNOWN_SESSION_ID = "unknown_session_id"
    DUPLICATE_SEND = "duplicate_send"
    OUT_OF_ORDER = "out_of_order"
    MISSING_HEARTBEAT = "missing_heartbeat"
    EXTRA_HEARTBEAT = "extra_heartbeat"
    TRUNCATED_PAYLOAD = "truncated_payload"
    NOT_JSON = "not_json"
