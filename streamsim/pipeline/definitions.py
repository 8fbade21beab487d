"""The Dagster code location: warehouse assets, the jobs that build them, the lake sensor.

Two jobs share the warehouse. The fresh loop is one long run that builds the models behind
the metrics whenever new lake files land (the lake sensor starts it, and starts it again
when it ends); the quality job runs the data-quality models on a slower schedule of its own.
Both take the warehouse's one-writer lock and both republish the serving copy, so a quality
run delays a fresh pass by at most its own length and never makes it wait a cadence.

Dagster's processes load this module, so it imports only Dagster, SQLMesh and the lake's
contracts: never Ray or Kafka, which would slow every code-server start and tie the
pipeline's health to theirs.
"""

# No `from __future__ import annotations`: Dagster reads the context's annotation at runtime.
import logging
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    AssetSelection,
    AssetSpec,
    ConfigurableResource,
    DagsterExecutionInterruptedError,
    DagsterInstance,
    DefaultSensorStatus,
    Definitions,
    MaterializeResult,
    OpExecutionContext,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    asset,
    define_asset_job,
    in_process_executor,
    job,
    materialize,
    multi_asset,
    op,
    sensor,
)

from streamsim.pipeline import warehouse
from streamsim.pipeline.fresh_loop import FreshLoop, FreshPass, newest_lake_file_ns
from streamsim.pipeline.project import FRESH_MODELS, MODELS, QUALITY_MODELS
from streamsim.pipeline.quality_checks import QUALITY_DEPS, QUALITY_DESCRIPTIONS, quality_checks
from streamsim.pipeline.schedules import (
    freshness_policy,
    lake_upkeep_job,
    quality_freshness_policy,
    quality_schedule,
    run_in_flight,
    safety_schedule,
    upkeep_schedule,
)
from streamsim.settings import Settings, load_settings

logger = logging.getLogger(__name__)

LAKE_FILES = AssetKey(["lake", "event_files"])
SERVING_COPY = AssetKey(["serving", "warehouse"])
# dagster.yaml lets one run per value of this tag go at a time: one fresh loop, and a
# quality run beside it whose writes the warehouse's lock puts between the loop's passes.
WRITER_TAG = "streamsim/writer"
# Read once at load: the sensor's interval, the schedules and the freshness goal come from it.
_settings = load_settings()


# Lineage as SQLMesh knows it; a test keeps it equal to the project's own dependencies.
def _core_and_marts_deps() -> dict[str, tuple[AssetKey, ...]]:
    """The core models and marts of docs/metrics.md, each with the models it reads."""
    reads = {
        "core.video_views": ("staging.events", "reference.videos", "reference.event_fields"),
        "core.sessions": ("staging.events", "core.video_views", "reference.event_fields"),
        "core.streams": ("staging.events",),
        "core.servers": ("staging.events",),
        "core.scaling_decisions": ("staging.events",),
        "core.server_utilisation": ("staging.events", "core.servers"),
        "metrics.system_per_minute": (
            *("staging.events", "core.sessions", "core.video_views", "core.streams"),
            *("core.server_utilisation", "core.scaling_decisions"),
        ),
        "metrics.product_by_hour": ("core.sessions", "core.video_views"),
        "metrics.top_videos": ("core.video_views",),
    }
    return {model: tuple(AssetKey(dep.split(".")) for dep in deps) for model, deps in reads.items()}


_MODEL_DEPS: Mapping[str, tuple[AssetKey, ...]] = {
    "lake.events": (LAKE_FILES,),
    "staging.events": (AssetKey(["lake", "events"]),),
    "metrics.events_per_minute": (AssetKey(["staging", "events"]),),
    "truth.injected_faults": (LAKE_FILES,),
    "lake.consumer_lag": (LAKE_FILES,),
    "ops.consumer_lag": (AssetKey(["lake", "consumer_lag"]),),
    **_core_and_marts_deps(),
    **QUALITY_DEPS,
}
_MODEL_DESCRIPTIONS = {
    "lake.events": "The lake's event files as one view, read in place.",
    "staging.events": "One typed row per event, duplicates from at-least-once delivery removed.",
    "metrics.events_per_minute": "Events per site-time minute, event type and source.",
    "truth.injected_faults": "The faults users injected on purpose, for scoring the checks.",
    "core.video_views": "One row per video opened: its play, watch time and how it ended.",
    "core.sessions": "One row per browser session: traits, length, plays and watch time.",
    "core.streams": "One row per stream, as the servers reported it.",
    "core.servers": "Each streaming server's life: started, draining, stopped.",
    "core.scaling_decisions": "Every autoscaler round, with the load behind it.",
    "core.server_utilisation": "Servers alive and their utilisation per site-time minute.",
    "metrics.system_per_minute": "Users, plays, streams, servers and scaling per minute.",
    "metrics.product_by_hour": "Product metrics per hour, country and device.",
    "metrics.top_videos": "Videos ranked by plays, with the long tail.",
    "lake.consumer_lag": "The sink group's lag samples, read in place from the lake.",
    "ops.consumer_lag": "How far the sink group is behind each topic, per minute.",
    **QUALITY_DESCRIPTIONS,
}


class WarehouseResource(ConfigurableResource):
    """Where the stack keeps its state, so tests and the drain can point at their own."""

    state_dir: str
    # The run whose clock maps emission to wall time for freshness; the Dagster processes
    # take it from the environment `streamsim up` gives them, the drain passes its own.
    run_id: str | None = None
    speed: float | None = None
    site_origin: float | None = None

    def settings(self) -> Settings:
        run = {"run_id": self.run_id, "speed": self.speed, "site_origin": self.site_origin}
        given = {name: value for name, value in run.items() if value is not None}
        return load_settings(state_dir=Path(self.state_dir), **given)


def model_key(model: str) -> AssetKey:
    """SQLMesh's `schema.table` becomes the asset key `schema/table`."""
    return AssetKey(model.split("."))


lake_event_files = AssetSpec(
    LAKE_FILES,
    description="Parquet files the sink writes into the lake; Dagster only watches them.",
    group_name="lake",
)


def _model_specs(models: tuple[str, ...], group: str, policy: Any) -> list[AssetSpec]:
    return [
        AssetSpec(
            model_key(model),
            deps=_MODEL_DEPS[model],
            description=_MODEL_DESCRIPTIONS[model],
            group_name=group,
            kinds={"sqlmesh", "duckdb"},
            # Nothing is materialised while the lake is still empty.
            skippable=True,
            freshness_policy=policy,
        )
        for model in models
    ]


def _run_group(
    context: AssetExecutionContext, store: WarehouseResource, models: tuple[str, ...]
) -> Iterator[MaterializeResult]:
    facts = warehouse.run_models(store.settings(), models)
    if facts.skipped:
        context.log.info("the lake holds no event files yet; nothing to model")
        return

    context.log.info("modelled %s lake files in %.2f s", facts.lake_files, facts.duration_s)
    for model in models:
        yield MaterializeResult(asset_key=model_key(model), metadata=_model_metadata(model, facts))


@multi_asset(
    specs=_model_specs(FRESH_MODELS, "warehouse", freshness_policy(_settings.pipeline)),
    name="fresh_models",
    can_subset=False,
)
def fresh_models(
    context: AssetExecutionContext, warehouse_store: WarehouseResource
) -> Iterator[MaterializeResult]:
    """Run the models behind the metrics: SQLMesh itself decides which intervals are missing."""
    yield from _run_group(context, warehouse_store, FRESH_MODELS)


@multi_asset(
    specs=_model_specs(QUALITY_MODELS, "quality", quality_freshness_policy(_settings.pipeline)),
    name="quality_models",
    can_subset=False,
)
def quality_models(
    context: AssetExecutionContext, warehouse_store: WarehouseResource
) -> Iterator[MaterializeResult]:
    """Run the data-quality models over what the fresh models and the lake hold now."""
    yield from _run_group(context, warehouse_store, QUALITY_MODELS)


def _model_metadata(model: str, facts: warehouse.RunFacts) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "lake_files": facts.lake_files,
        "run_duration_s": round(facts.duration_s, 3),
        "planned": facts.planned,
    }
    if model in facts.rows:
        metadata["dagster/row_count"] = facts.rows[model]
    return metadata


@asset(
    key=SERVING_COPY,
    deps=[model_key(model) for model in MODELS],
    group_name="serving",
    kinds={"duckdb"},
    freshness_policy=freshness_policy(_settings.pipeline),
)
def serving_copy(warehouse_store: WarehouseResource) -> MaterializeResult:
    """The read-only copy BI and `streamsim sql` open, since only one process may hold the
    warehouse."""
    settings = warehouse_store.settings()
    if not settings.warehouse_path.exists():
        return MaterializeResult(metadata={"published": False})

    facts = warehouse.publish_serving_copy(settings)
    return MaterializeResult(metadata=_serving_metadata(facts))


def _serving_metadata(facts: warehouse.ServingFacts) -> dict[str, Any]:
    return {
        "published": True,
        "path": str(facts.path),
        "bytes": facts.bytes,
        "duration_s": round(facts.duration_s, 3),
        **facts.freshness.metadata(),
    }


@op(required_resource_keys={"warehouse_store"})
def keep_the_metrics_fresh(context: OpExecutionContext) -> None:
    """Build the fresh models and republish the serving copy whenever new lake files land.

    Each pass is recorded as a materialisation of every fresh model and of the serving copy.
    The loop ends after `pipeline.fresh_loop_minutes` (the lake sensor starts the next one),
    or at once if the process that launched it is gone, so a stack killed without a stop
    leaves no writer behind.
    """
    store: WarehouseResource = context.resources.warehouse_store
    settings = store.settings()
    ends_at = time.monotonic() + 60 * settings.pipeline.fresh_loop_minutes
    launcher = os.getppid()

    def keep_going() -> bool:
        return time.monotonic() < ends_at and os.getppid() == launcher

    loop = FreshLoop(settings, FRESH_MODELS)
    try:
        for done in loop.passes(settings.pipeline.look_interval_s, keep_going):
            context.log.info(
                "pass over %s lake files: models %.2f s, copy %.2f s",
                *(done.models.lake_files, done.models.duration_s, done.serving.duration_s),
            )
            for materialization in _materializations(done):
                context.log_event(materialization)
    except DagsterExecutionInterruptedError:
        # The stack stopping (SIGTERM to Dagster's processes) is this run's normal end; a
        # pass it cut short is finished by the next run: SQLMesh records a model's interval
        # only once the model is loaded.
        context.log.info("the stack is stopping; the fresh loop ends here")


def _materializations(done: FreshPass) -> Iterator[AssetMaterialization]:
    for model in FRESH_MODELS:
        yield AssetMaterialization(model_key(model), metadata=_model_metadata(model, done.models))
    yield AssetMaterialization(SERVING_COPY, metadata=_serving_metadata(done.serving))


@job(
    executor_def=in_process_executor,
    description="Load new lake files into the metrics and republish the serving copy, "
    "pass after pass, in one long-lived process.",
    tags={WRITER_TAG: "fresh"},
)
def fresh_loop_job() -> None:
    keep_the_metrics_fresh()


quality_job = define_asset_job(
    "quality_job",
    selection=AssetSelection.assets(*(model_key(model) for model in QUALITY_MODELS), SERVING_COPY),
    description="Judge the messages, republish the serving copy, then run the asset checks.",
    executor_def=in_process_executor,
    tags={WRITER_TAG: "quality"},
)


@sensor(
    # By name: Definitions rebuilds a sensor holding an op job to bind its resources, and
    # that rebuild warns (a beta parameter) in Dagster 1.13.
    job_name=fresh_loop_job.name,
    minimum_interval_seconds=_settings.pipeline.sensor_interval_s,
    default_status=DefaultSensorStatus.RUNNING,
)
def lake_files_sensor(
    context: SensorEvaluationContext, warehouse_store: WarehouseResource
) -> SensorResult | SkipReason:
    """Start the fresh loop when files newer than the last ones seen land and it is not going.

    The cursor is the newest file time seen rather than every file name, so it stays small
    however large the lake grows. The loop itself reads every file newer than its last pass.
    """
    seen = int(context.cursor or 0)
    newest = newest_lake_file_ns(warehouse_store.settings())
    if newest <= seen:
        return SkipReason("no new lake files")
    if run_in_flight(context.instance, fresh_loop_job.name):
        return SkipReason("the fresh loop is queued or running and will load the new files")

    return SensorResult(run_requests=[RunRequest(run_key=str(newest))], cursor=str(newest))


def _settings_of(context: Any) -> Settings:
    store: WarehouseResource = context.resources.warehouse_store
    return store.settings()


asset_checks = quality_checks(_settings_of)

defs = Definitions(
    assets=[lake_event_files, fresh_models, quality_models, serving_copy],
    asset_checks=asset_checks,
    jobs=[fresh_loop_job, quality_job, lake_upkeep_job],
    sensors=[lake_files_sensor],
    schedules=[
        safety_schedule(fresh_loop_job, _settings.pipeline),
        quality_schedule(quality_job, _settings.pipeline),
        upkeep_schedule(_settings.pipeline),
    ],
    resources={"warehouse_store": WarehouseResource(state_dir=str(_settings.state))},
)


@dataclass(frozen=True)
class PipelineOutcome:
    """Whether every asset materialised, and the facts each one recorded."""

    success: bool
    facts: dict[str, dict[str, Any]]


def materialize_all(settings: Settings, instance: DagsterInstance | None = None) -> PipelineOutcome:
    """Materialise every asset in this process: the end-of-run drain and the tests use it.

    Without an instance the run is recorded in a throwaway one, so this never contends with
    a running daemon for Dagster's storage; the warehouse's own lock keeps writers apart.
    """
    store = WarehouseResource(
        state_dir=str(settings.state),
        run_id=settings.run_id,
        speed=settings.speed,
        site_origin=settings.site_origin,
    )
    result = materialize(
        [lake_event_files, fresh_models, quality_models, serving_copy, *asset_checks],
        resources={"warehouse_store": store},
        instance=instance,
        raise_on_error=False,
        # Step-by-step debug lines would bury the run summary that follows this call.
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )
    facts = {
        event.asset_key.to_user_string(): {
            name: value.value for name, value in event.materialization.metadata.items()
        }
        for event in result.get_asset_materialization_events()
        if event.asset_key is not None
    }
    return PipelineOutcome(success=result.success, facts=facts)
