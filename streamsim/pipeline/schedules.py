"""What runs the pipeline on the clock: the safety net, quality runs, lake upkeep, freshness.

The lake sensor starts the fresh loop, the long run that builds the metrics as files land.
A schedule beside it starts the loop every few minutes if it is not going, so a missed
sensor tick (a daemon restart, a sensor turned off in the UI) costs minutes, not a stale
warehouse. Lake upkeep (compaction and retention) runs as a job of its own on a slower
schedule: merging an hour of files takes seconds, which would otherwise delay the loop's
next pass and the freshness behind it.
The quality models run on a schedule of their own for the same reason: they judge every
message against its neighbours, which costs more than the metrics' way through the models.
"""

# No `from __future__ import annotations`: Dagster reads the context's annotation at runtime.
from datetime import timedelta
from typing import Any

from dagster import (
    AssetKey,
    AssetObservation,
    DagsterInstance,
    DagsterRunStatus,
    DefaultScheduleStatus,
    FreshnessPolicy,
    JobDefinition,
    OpExecutionContext,
    RunRequest,
    RunsFilter,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    in_process_executor,
    job,
    op,
    schedule,
)
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,
)

from streamsim.pipeline import warehouse
from streamsim.pipeline.upkeep import upkeep
from streamsim.settings import PipelineSettings, Settings

_IN_FLIGHT = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]


def run_in_flight(instance: DagsterInstance, job_name: str) -> bool:
    """Whether a run of the job is queued or going: another would only repeat its work."""
    runs = instance.get_run_records(RunsFilter(job_name=job_name, statuses=_IN_FLIGHT), limit=1)
    return bool(runs)


def every_minutes(minutes: int) -> str:
    return "* * * * *" if minutes == 1 else f"*/{minutes} * * * *"


def freshness_policy(pipeline: PipelineSettings) -> FreshnessPolicy:
    """Warn when the last materialisation is older than the freshness goal, fail at twice it.

    While events flow the sensor materialises every few seconds, so a warning means the
    pipeline has stopped keeping up (Dagster's windows start at one minute).
    """
    warn = timedelta(seconds=max(60, pipeline.freshness_goal_s))
    return FreshnessPolicy.time_window(fail_window=2 * warn, warn_window=warn)


def safety_schedule(target: JobDefinition, pipeline: PipelineSettings) -> ScheduleDefinition:
    """Start the fresh loop every few minutes unless it is queued or running already."""
    return one_run_at_a_time(
        "warehouse_safety_schedule",
        target,
        pipeline.safety_run_minutes,
        "Starts the fresh loop every few minutes in case the lake sensor did not.",
    )


def one_run_at_a_time(
    name: str,
    target: JobDefinition | UnresolvedAssetJobDefinition,
    minutes: int,
    description: str,
) -> ScheduleDefinition:
    """A schedule of `target` every `minutes` that skips while a run of it is queued or going."""

    @schedule(
        name=name,
        job=target,
        cron_schedule=every_minutes(minutes),
        default_status=DefaultScheduleStatus.RUNNING,
        description=description,
    )
    def run_unless_one_is_in_flight(
        context: ScheduleEvaluationContext,
    ) -> RunRequest | SkipReason:
        if run_in_flight(context.instance, target.name):
            return SkipReason(f"a run of {target.name} is queued or running already")
        return RunRequest()

    return run_unless_one_is_in_flight


def quality_freshness_policy(pipeline: PipelineSettings) -> FreshnessPolicy:
    """Warn when the quality tables missed two of their scheduled runs, fail at four."""
    warn = timedelta(minutes=2 * pipeline.quality_run_minutes)
    return FreshnessPolicy.time_window(fail_window=2 * warn, warn_window=warn)


def quality_schedule(
    target: UnresolvedAssetJobDefinition, pipeline: PipelineSettings
) -> ScheduleDefinition:
    """Run the quality job every `pipeline.quality_run_minutes`, never two at once."""
    return one_run_at_a_time(
        "quality_schedule",
        target,
        pipeline.quality_run_minutes,
        "Judge the messages that landed since the last quality run.",
    )


@op(required_resource_keys={"warehouse_store"})
def lake_upkeep(context: OpExecutionContext) -> None:
    """Expire old lake partitions and merge quiet ones' files, between warehouse runs."""
    settings: Settings = context.resources.warehouse_store.settings()
    with warehouse.writer_lock(settings):
        facts = upkeep(settings)
    metadata: dict[str, Any] = {
        "partitions_compacted": facts.partitions_compacted,
        "files_merged": facts.files_merged,
        "rows_merged": facts.rows_merged,
        "partitions_expired": len(facts.partitions_expired),
        "retention_hours": settings.lake.retention_hours,
        "duration_s": round(facts.duration_s, 3),
    }
    context.log_event(
        AssetObservation(asset_key=AssetKey(["lake", "event_files"]), metadata=metadata)
    )


@job(
    executor_def=in_process_executor,
    description="Compact and expire lake partitions.",
    tags={"streamsim/writer": "upkeep"},
)
def lake_upkeep_job() -> None:
    lake_upkeep()


def upkeep_schedule(pipeline: PipelineSettings) -> ScheduleDefinition:
    """Lake upkeep every `pipeline.upkeep_minutes`, never two at once."""

    @schedule(
        name="lake_upkeep_schedule",
        job=lake_upkeep_job,
        cron_schedule=every_minutes(pipeline.upkeep_minutes),
        default_status=DefaultScheduleStatus.RUNNING,
        description="Merge small files of quiet partitions; delete partitions past retention.",
    )
    def lake_upkeep_schedule(context: ScheduleEvaluationContext) -> RunRequest | SkipReason:
        if run_in_flight(context.instance, lake_upkeep_job.name):
            return SkipReason("lake upkeep is queued or running already")
        return RunRequest()

    return lake_upkeep_schedule
