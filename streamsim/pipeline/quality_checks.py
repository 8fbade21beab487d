"""Dagster asset checks over the quality tables: one per expectation, plus freshness and volume.

They read the serving copy, which the job publishes after the models ran, so a check never
waits for the writer's lock nor sees a half-built table.
"""

# No `from __future__ import annotations`: Dagster reads the context's annotation at runtime.
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import duckdb
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetKey,
    asset_check,
)

from streamsim.pipeline.expectations import EXPECTATIONS, Expectation, Severity
from streamsim.settings import Settings

COMPLIANCE = AssetKey(["quality", "compliance"])
EVENT_CHECKS = AssetKey(["quality", "event_checks"])
SERVING_COPY = AssetKey(["serving", "warehouse"])
# Newest event older than this (real seconds) while the stack runs: the pipeline is behind.
FRESHNESS_LIMIT_S = 300
# Site minutes, counted back from the newest message, that must hold user events.
VOLUME_WINDOW_MIN = 5


def _key(*parts: str) -> AssetKey:
    return AssetKey(list(parts))


QUALITY_DEPS: Mapping[str, tuple[AssetKey, ...]] = {
    # The Python models read no table; the lake files stand for their inputs, as for lake.events.
    "reference.videos": (AssetKey(["lake", "event_files"]),),
    "reference.event_fields": (AssetKey(["lake", "event_files"]),),
    "core.settings_timeline": (_key("staging", "events"),),
    "quality.quarantined_messages": (AssetKey(["lake", "event_files"]),),
    "quality.messages": (
        _key("lake", "events"),
        _key("quality", "quarantined_messages"),
        _key("reference", "event_fields"),
        _key("reference", "videos"),
    ),
    "quality.event_checks": (_key("quality", "messages"), _key("reference", "event_fields")),
    "quality.compliance": (EVENT_CHECKS, _key("core", "settings_timeline")),
    "quality.quarantine": (_key("quality", "quarantined_messages"), EVENT_CHECKS),
}
QUALITY_DESCRIPTIONS = {
    "reference.videos": "The video catalogue of the configured behaviour model.",
    "reference.event_fields": "Every documented field of every event type, with its enums.",
    "core.settings_timeline": "Each settings change, with all settings in force from then on.",
    "quality.quarantined_messages": "Quarantined messages with their bytes and reason.",
    "quality.messages": "Every message in the lake, judged on its own.",
    "quality.event_checks": "Every message, one boolean per expectation.",
    "quality.compliance": "Compliance per expectation, event type and site minute.",
    "quality.quarantine": "Quarantined messages per site minute, topic and reason.",
}


class _NoWarehouse(Exception):
    """Nothing to check before the first run published the serving copy."""


def _query(settings: Settings, sql: str) -> list[tuple[Any, ...]]:
    if not settings.serving_path.exists():
        raise _NoWarehouse
    with duckdb.connect(str(settings.serving_path), read_only=True) as db:
        return db.execute(sql).fetchall()


def _judged(result: Callable[[], AssetCheckResult]) -> AssetCheckResult:
    try:
        return result()
    except _NoWarehouse:
        return AssetCheckResult(passed=True, metadata={"judged": False})


def _latest_run_filter() -> str:
    return (
        "run_id = (SELECT run_id FROM quality.event_checks WHERE run_id IS NOT NULL "
        "ORDER BY site_minute DESC LIMIT 1)"
    )


def expectation_result(settings: Settings, expectation: Expectation) -> AssetCheckResult:
    """Passes when every message of the latest run that the expectation judged passed it."""
    rows = _query(
        settings,
        "SELECT COALESCE(SUM(checked), 0), COALESCE(SUM(passed), 0) FROM quality.compliance "
        f"WHERE expectation = '{expectation.name}' AND {_latest_run_filter()}",
    )
    checked, passed = (int(value) for value in rows[0])
    severity = (
        AssetCheckSeverity.ERROR
        if expectation.severity is Severity.ERROR
        else AssetCheckSeverity.WARN
    )
    return AssetCheckResult(
        passed=checked == passed,
        severity=severity,
        metadata={
            "rule": expectation.rule,
            "checked": checked,
            "failing": checked - passed,
            "compliance": round(passed / checked, 6) if checked else 1.0,
        },
    )


def freshness_result(settings: Settings) -> AssetCheckResult:
    """The newest message arrived recently: the path from Kafka to the tables is moving."""
    rows = _query(
        settings,
        "SELECT EPOCH(NOW()::TIMESTAMP) - EPOCH(MAX(ingested_at)) FROM quality.event_checks",
    )
    age = rows[0][0]
    return AssetCheckResult(
        passed=age is not None and age <= FRESHNESS_LIMIT_S,
        severity=AssetCheckSeverity.WARN,
        metadata={"newest_event_age_s": round(float(age), 1) if age is not None else -1.0},
    )


def volume_result(settings: Settings) -> AssetCheckResult:
    """While the wave sends users, the last minutes hold user events."""
    rows = _query(
        settings,
        f"""
        WITH latest AS (
          SELECT * FROM quality.event_checks WHERE {_latest_run_filter()}
        ), wave AS (
          SELECT max_rate FROM core.settings_timeline
          WHERE run_id = (SELECT ANY_VALUE(run_id) FROM latest)
          ORDER BY changed_at DESC LIMIT 1
        )
        SELECT
          COUNT(*) FILTER (WHERE topic = 'streamsim.user-events'
            AND site_minute >= (SELECT MAX(site_minute) FROM latest)
              - INTERVAL {VOLUME_WINDOW_MIN} MINUTE),
          (SELECT max_rate FROM wave)
        FROM latest
        """,
    )
    events, max_rate = rows[0]
    users_expected = max_rate is None or max_rate > 0
    return AssetCheckResult(
        passed=bool(events) or not users_expected,
        severity=AssetCheckSeverity.WARN,
        metadata={"recent_user_events": int(events or 0), "max_rate": float(max_rate or 0)},
    )


def _expectation_check(expectation: Expectation, settings_of: Any) -> AssetChecksDefinition:
    @asset_check(
        asset=COMPLIANCE,
        name=expectation.name,
        description=f"Every message judged passes: {expectation.rule}.",
        additional_deps=[SERVING_COPY],
        required_resource_keys={"warehouse_store"},
    )
    def check(context: AssetCheckExecutionContext) -> AssetCheckResult:
        return _judged(lambda: expectation_result(settings_of(context), expectation))

    return check


def quality_checks(settings_of: Any) -> Sequence[AssetChecksDefinition]:
    """Every check; `settings_of(context)` gives the settings of the warehouse to read."""

    @asset_check(
        asset=EVENT_CHECKS,
        name="fresh",
        description=f"The newest message arrived less than {FRESHNESS_LIMIT_S} s ago.",
        additional_deps=[SERVING_COPY],
        required_resource_keys={"warehouse_store"},
    )
    def fresh(context: AssetCheckExecutionContext) -> AssetCheckResult:
        return _judged(lambda: freshness_result(settings_of(context)))

    @asset_check(
        asset=EVENT_CHECKS,
        name="has_volume",
        description=f"User events in the last {VOLUME_WINDOW_MIN} site minutes while the wave "
        "sends users.",
        additional_deps=[SERVING_COPY],
        required_resource_keys={"warehouse_store"},
    )
    def has_volume(context: AssetCheckExecutionContext) -> AssetCheckResult:
        return _judged(lambda: volume_result(settings_of(context)))

    checks = [_expectation_check(expectation, settings_of) for expectation in EXPECTATIONS]
    return [*checks, fresh, has_volume]
