"""The SQLMesh project's configuration, built from streamsim settings.

Both `sqlmesh/config.py` (for the `sqlmesh` command line) and the pipeline build their
configuration here, so the warehouse file and the lake it reads can never disagree.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlmesh.core import constants as c
from sqlmesh.core.config import (
    Config,
    DuckDBConnectionConfig,
    GatewayConfig,
    ModelDefaultsConfig,
)

from streamsim.lake import (
    ensure_lag_readable,
    ensure_truth_readable,
    events_glob,
    lag_glob,
    quarantine_glob,
    truth_glob,
)
from streamsim.settings import Settings

# The project sits beside the package in the repository (an editable install).
PROJECT_DIR = Path(__file__).resolve().parents[2] / "sqlmesh"
GATEWAY = "local"

# The unit tests' files, as SQLMesh finds them in the project's tests folder.
UNIT_TESTS = "test*.yaml"
# The models behind the freshness goal, upstream first: the lake sensor runs them on every
# tick, so an event reaches the metrics without waiting for the quality models.
FRESH_MODELS = (
    "lake.events",
    "staging.events",
    "metrics.events_per_minute",
    "reference.videos",  # before core.video_views, which reads video lengths
    "reference.event_fields",  # before the core models, which keep only accepted values
    # The core models and marts of docs/metrics.md.
    *("core.video_views", "core.sessions", "core.streams", "core.servers"),
    *("core.scaling_decisions", "core.server_utilisation"),
    *("metrics.system_per_minute", "metrics.product_by_hour", "metrics.top_videos"),
    "core.settings_timeline",
    # The sink group's lag over time, for system health.
    *("lake.consumer_lag", "ops.consumer_lag"),
)
# The data-quality models and the truth that scores them, upstream first: they judge every
# message, cost more per run, and run on a cadence of their own (PipelineSettings).
QUALITY_MODELS = (
    "truth.injected_faults",
    "quality.quarantined_messages",
    "quality.messages",
    "quality.event_checks",
    "quality.compliance",
    "quality.quarantine",
)
# Every model of the project; a test keeps this list equal to the project's.
MODELS = (*FRESH_MODELS, *QUALITY_MODELS)

# SQLMesh sends anonymous usage analytics unless told not to; this variable stops it before
# any Context exists, and the config flag below stops it for the CLI too.
os.environ["SQLMESH__DISABLE_ANONYMIZED_ANALYTICS"] = "true"


def serving_catalog(settings: Settings) -> str:
    """The catalog name readers see in the serving copy, which SQLMesh must write views under.

    SQLMesh's virtual layer is views that name their tables with the catalog. DuckDB calls a
    file's catalog after its name, so the warehouse is attached under the serving copy's name:
    the copy then opens with no setup, in Superset or any DuckDB client.
    """
    return settings.serving_path.stem


def site_clock_variables(settings: Settings) -> dict[str, float]:
    """The run's clock, for staging to read each arrival in site time; speed 0 says the clock
    is unknown (a sped-up process started outside `streamsim up` has no shared origin)."""
    if settings.site_origin is None:
        return {"site_speed": 1.0 if settings.speed == 1 else 0.0, "site_origin_s": 0.0}
    return {"site_speed": settings.speed, "site_origin_s": settings.site_origin}


def sqlmesh_config(settings: Settings, model_tests: bool = True) -> Config:
    """One DuckDB gateway on the warehouse file, with the lake's globs as model variables.

    Without `model_tests` SQLMesh does not read the unit tests' YAML: opening the project
    then takes 0.7 CPU s instead of 1.2 here, on every pipeline run. The test suite runs the
    unit tests; a model run never does.
    """
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    ensure_truth_readable(settings.lake_dir)
    ensure_lag_readable(settings.lake_dir)
    connection = DuckDBConnectionConfig(
        catalogs={serving_catalog(settings): str(settings.warehouse_path)},
        # Windows and site-time minutes are UTC; the machine's zone must not shift them.
        connector_config={"TimeZone": "UTC"},
        concurrent_tasks=1,
    )
    return Config(
        gateways={GATEWAY: GatewayConfig(connection=connection)},
        default_gateway=GATEWAY,
        model_defaults=ModelDefaultsConfig(dialect="duckdb", start="2024-01-01"),
        variables={
            "lake_glob": events_glob(settings.lake_dir),
            "truth_glob": truth_glob(settings.lake_dir),
            "quarantine_glob": quarantine_glob(settings.lake_dir),
            "lag_glob": lag_glob(settings.lake_dir),
            # The catalogue and enums the checks judge by are the users' own.
            "behaviour_model_file": str(settings.users.model_file or ""),
            "heartbeat_s": settings.users.heartbeat_s,
            **site_clock_variables(settings),
        },
        ignore_patterns=[*c.IGNORE_PATTERNS, *([] if model_tests else [UNIT_TESTS])],
        disable_anonymized_analytics=True,
        cache_dir=str(settings.state / "sqlmesh-cache"),
    )
