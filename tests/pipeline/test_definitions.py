"""The Dagster code location: assets mirror the models, the sensor watches the lake."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    DagsterRunStatus,
    RunRequest,
    SensorResult,
    SkipReason,
    build_sensor_context,
    instance_for_test,
)

from streamsim.pipeline.definitions import (
    LAKE_FILES,
    SERVING_COPY,
    WRITER_TAG,
    WarehouseResource,
    defs,
    lake_files_sensor,
    materialize_all,
)
from streamsim.pipeline.expectations import EXPECTATION_NAMES
from streamsim.pipeline.home import (
    CODE_LOCATION,
    dagster_commands,
    dagster_environment,
    prepare_dagster_home,
)
from streamsim.pipeline.project import FRESH_MODELS, MODELS, QUALITY_MODELS
from streamsim.pipeline.warehouse import open_context
from streamsim.settings import Settings

from .conftest import Lake, lake_row


def evaluate_sensor(
    settings: Settings, cursor: str | None, instance: DagsterInstance | None = None
) -> SensorResult | SkipReason:
    with instance_for_test() as empty:
        context = build_sensor_context(
            cursor=cursor,
            instance=instance or empty,
            resources={"warehouse_store": WarehouseResource(state_dir=str(settings.state))},
        )
        result = lake_files_sensor(context)
    assert isinstance(result, SensorResult | SkipReason)
    return result


def test_the_sensor_requests_a_run_when_a_new_file_lands_and_not_otherwise(
    settings: Settings, lake: Lake
) -> None:
    assert isinstance(evaluate_sensor(settings, None), SkipReason)

    lake.write([lake_row("a")])
    first = evaluate_sensor(settings, None)
    assert isinstance(first, SensorResult)
    assert [type(request) for request in first.run_requests or []] == [RunRequest]

    assert isinstance(evaluate_sensor(settings, first.cursor), SkipReason)

    lake.write([lake_row("b")])
    second = evaluate_sensor(settings, first.cursor)
    assert isinstance(second, SensorResult)
    assert second.run_requests and second.cursor != first.cursor


def test_the_sensor_starts_no_second_loop_beside_one_queued_or_going(
    settings: Settings, lake: Lake
) -> None:
    lake.write([lake_row("a")])
    with instance_for_test() as instance:
        job = defs.resolve_job_def("fresh_loop_job")
        run = instance.create_run_for_job(job, status=DagsterRunStatus.STARTED)
        assert isinstance(evaluate_sensor(settings, None, instance), SkipReason)

        instance.report_run_failed(run)
        assert isinstance(evaluate_sensor(settings, None, instance), SensorResult)


def test_materialize_all_builds_every_asset_and_reports_its_facts(
    settings: Settings, lake: Lake
) -> None:
    lake.write([lake_row("a"), lake_row("b"), lake_row("b")])

    outcome = materialize_all(settings)

    assert outcome.success
    assert set(outcome.facts) == {model.replace(".", "/") for model in MODELS} | {
        "serving/warehouse"
    }
    assert outcome.facts["staging/events"]["dagster/row_count"] == 2
    assert outcome.facts["serving/warehouse"]["bytes"] == settings.serving_path.stat().st_size


def test_materialize_all_over_an_empty_lake_succeeds_and_materialises_nothing(
    settings: Settings,
) -> None:
    outcome = materialize_all(settings)

    assert outcome.success
    assert outcome.facts == {}


def test_assets_mirror_the_sqlmesh_models_and_their_lineage(settings: Settings) -> None:
    graph = defs.resolve_asset_graph()
    with open_context(settings) as context:
        sqlmesh_deps = {
            AssetKey(model.name.split(".")): {
                AssetKey([part.strip('"') for part in dep.split(".")][1:])
                for dep in model.depends_on or set()
            }
            or {LAKE_FILES}
            for model in context.models.values()
        }

    dagster_deps = {
        key: set(graph.get(key).parent_keys)
        for key in graph.materializable_asset_keys
        if key != SERVING_COPY
    }
    assert dagster_deps == sqlmesh_deps
    assert set(graph.get(SERVING_COPY).parent_keys) == set(sqlmesh_deps)


def test_loading_the_code_location_imports_neither_ray_nor_kafka() -> None:
    probe = (
        "import sys, streamsim.pipeline.definitions; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'ray', 'kafka', 'aiokafka'}))"
    )
    loaded = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", probe], check=True, capture_output=True, text=True
    )
    assert loaded.stdout.strip() == "[]"


def test_the_dagster_instance_sends_no_telemetry_runs_one_run_per_writer_and_stores_in_state(
    settings: Settings,
) -> None:
    home = prepare_dagster_home(settings)

    instance = DagsterInstance.from_config(str(home))
    try:
        assert not instance.telemetry_enabled
        run_queue = instance.get_concurrency_config().run_queue_config
        assert run_queue is not None
        # One run per writer (fresh, quality, upkeep); the warehouse lock orders their writes.
        assert run_queue.max_concurrent_runs == 3
        assert run_queue.tag_concurrency_limits == [
            {"key": WRITER_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
        ]
        assert instance.storage_directory().startswith(str(settings.state))
    finally:
        instance.dispose()


def test_dagster_listens_on_loopback_at_the_configured_port(settings: Settings) -> None:
    webserver = dagster_commands(settings)["webserver"]

    assert webserver[webserver.index("--host") + 1] == "127.0.0.1"
    assert webserver[webserver.index("--port") + 1] == str(settings.pipeline.port)


def test_the_fresh_loop_records_each_pass_as_the_fresh_models_and_the_copy(
    settings: Settings, lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake.write([lake_row("a"), lake_row("b")])
    # A loop of three seconds: its first pass, then looks that find nothing new.
    monkeypatch.setenv("STREAMSIM_PIPELINE__FRESH_LOOP_MINUTES", "0.05")
    job = defs.resolve_job_def("fresh_loop_job")

    result = job.execute_in_process(
        resources={"warehouse_store": WarehouseResource(state_dir=str(settings.state))}
    )

    assert result.success
    materialised = [event.asset_key for event in result.get_asset_materialization_events()]
    assert materialised == [*(AssetKey(model.split(".")) for model in FRESH_MODELS), SERVING_COPY]
    assert settings.serving_path.exists()
    assert job.tags[WRITER_TAG] == "fresh"


def test_the_quality_job_builds_the_quality_models_republishes_and_runs_every_check() -> None:
    job = defs.resolve_job_def("quality_job")
    checks = {key.name for key in job.asset_layer.asset_graph.asset_check_keys}

    assert job.asset_layer.selected_asset_keys == {
        *(AssetKey(model.split(".")) for model in QUALITY_MODELS),
        SERVING_COPY,
    }
    assert checks == {*EXPECTATION_NAMES, "fresh", "has_volume"}


def test_every_expectation_is_an_asset_check_beside_freshness_and_volume() -> None:
    checks = {key.name for key in defs.resolve_asset_graph().asset_check_keys}

    assert checks == {*EXPECTATION_NAMES, "fresh", "has_volume"}


def test_the_fresh_loop_ends_as_a_success_when_the_stack_stops_dagster(
    settings: Settings, lake: Lake, tmp_path: Path
) -> None:
    lake.write([lake_row("a")])
    home = prepare_dagster_home(settings)
    dagster = Path(sys.executable).parent / "dagster"
    # As in the stack, the run's process has a parent of its own in one process group, and
    # stopping sends SIGTERM to the whole group: the loop ends on Dagster's interrupt or,
    # failing that, on its next look, when it finds its parent gone.
    launcher = ["bash", "-c", '"$@" & wait', "launcher", str(dagster), "job", "execute"]
    command = [*launcher, "-m", CODE_LOCATION, "-j", "fresh_loop_job"]
    log = tmp_path / "dagster.log"
    with log.open("wb") as output:
        group = subprocess.Popen(
            command, env=dagster_environment(settings), stderr=output, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 120
        while not settings.serving_path.exists() and time.monotonic() < deadline:
            assert group.poll() is None, "the loop ended by itself"
            time.sleep(0.2)
        assert settings.serving_path.exists(), "no pass within two minutes"
        (run,) = psutil.Process(group.pid).children()
        os.killpg(group.pid, signal.SIGTERM)  # what stopping the stack sends Dagster's group
        run.wait(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group.pid, signal.SIGKILL)
        group.wait()

    instance = DagsterInstance.from_config(str(home))
    try:
        statuses = [record.status for record in instance.get_runs()]
    finally:
        instance.dispose()
    assert statuses == [DagsterRunStatus.SUCCESS], log.read_text()[-2000:]
