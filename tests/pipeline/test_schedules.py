"""The pipeline on the clock: the safety-net schedule, lake upkeep, and freshness goals."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    DagsterRunStatus,
    RunRequest,
    SkipReason,
    build_schedule_context,
    instance_for_test,
)
from dagster._core.definitions.freshness import TimeWindowFreshnessPolicy

from streamsim.pipeline.definitions import (
    SERVING_COPY,
    WarehouseResource,
    defs,
    fresh_loop_job,
    quality_job,
)
from streamsim.pipeline.project import FRESH_MODELS, QUALITY_MODELS
from streamsim.pipeline.schedules import lake_upkeep_job
from streamsim.settings import Settings, load_settings

from .conftest import Lake, lake_row

pytestmark = pytest.mark.timeout(120)


def evaluate(name: str, instance: DagsterInstance) -> RunRequest | SkipReason:
    schedule = defs.resolve_schedule_def(name)
    result = schedule.evaluate_tick(build_schedule_context(instance=instance))
    if result.skip_message:
        return SkipReason(result.skip_message)
    (request,) = result.run_requests or []
    return request


def test_the_safety_schedule_starts_the_fresh_loop_every_few_minutes() -> None:
    schedule = defs.resolve_schedule_def("warehouse_safety_schedule")

    assert schedule.job_name == fresh_loop_job.name
    assert schedule.cron_schedule == f"*/{load_settings().pipeline.safety_run_minutes} * * * *"
    assert schedule.default_status.value == "RUNNING"


def test_the_safety_schedule_skips_while_the_fresh_loop_is_queued_or_going() -> None:
    with instance_for_test() as instance:
        assert isinstance(evaluate("warehouse_safety_schedule", instance), RunRequest)

        job = defs.resolve_job_def(fresh_loop_job.name)
        run = instance.create_run_for_job(job, status=DagsterRunStatus.STARTED)
        assert isinstance(evaluate("warehouse_safety_schedule", instance), SkipReason)
        # Lake upkeep waits for its own runs only; Dagster's queue keeps it after this one.
        assert isinstance(evaluate("lake_upkeep_schedule", instance), RunRequest)

        instance.report_run_failed(run)
        assert isinstance(evaluate("warehouse_safety_schedule", instance), RunRequest)


def test_the_quality_schedule_runs_the_quality_job_on_its_own_cadence() -> None:
    schedule = defs.resolve_schedule_def("quality_schedule")

    assert schedule.job_name == quality_job.name
    assert schedule.cron_schedule == f"*/{load_settings().pipeline.quality_run_minutes} * * * *"
    assert schedule.default_status.value == "RUNNING"


def test_a_quality_run_going_holds_back_neither_the_fresh_loop_nor_another_quality_run_queue() -> (
    None
):
    with instance_for_test() as instance:
        job = defs.resolve_job_def(quality_job.name)
        run = instance.create_run_for_job(job, status=DagsterRunStatus.STARTED)

        assert isinstance(evaluate("quality_schedule", instance), SkipReason)
        assert isinstance(evaluate("warehouse_safety_schedule", instance), RunRequest)

        instance.report_run_failed(run)
        assert isinstance(evaluate("quality_schedule", instance), RunRequest)


def test_quality_assets_warn_after_two_missed_quality_runs() -> None:
    graph = defs.resolve_asset_graph()
    cadence = timedelta(minutes=load_settings().pipeline.quality_run_minutes)

    for key in [AssetKey(model.split(".")) for model in QUALITY_MODELS]:
        policy = graph.get(key).freshness_policy
        assert isinstance(policy, TimeWindowFreshnessPolicy), key
        assert policy.warn_window is not None
        assert policy.warn_window.to_timedelta() == 2 * cadence


def test_every_fresh_asset_carries_the_freshness_goal() -> None:
    graph = defs.resolve_asset_graph()
    goal = timedelta(seconds=load_settings().pipeline.freshness_goal_s)

    for key in [AssetKey(model.split(".")) for model in FRESH_MODELS] + [SERVING_COPY]:
        policy = graph.get(key).freshness_policy
        assert isinstance(policy, TimeWindowFreshnessPolicy), key
        assert policy.warn_window is not None
        assert policy.warn_window.to_timedelta() == goal
        assert policy.fail_window.to_timedelta() == 2 * goal


def test_the_upkeep_job_compacts_the_lake_and_reports_it_on_the_lake_asset(
    settings: Settings, lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMSIM_LAKE__COMPACT_QUIET_S", "0.001")
    lake.write([lake_row("a")])
    lake.write([lake_row("b")])
    time.sleep(0.01)

    with instance_for_test() as instance:
        result = lake_upkeep_job.execute_in_process(
            instance=instance,
            resources={"warehouse_store": WarehouseResource(state_dir=str(settings.state))},
        )
        observation = instance.fetch_observations(AssetKey(["lake", "event_files"]), limit=1)

    assert result.success
    (record,) = observation.records
    metadata = record.asset_observation.metadata if record.asset_observation else {}
    assert metadata["files_merged"].value == 2
    assert len(list((settings.lake_dir / "events").rglob("*.parquet"))) == 1
