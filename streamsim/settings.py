"""Typed settings, one object per runtime part, read from a TOML file and the environment.

Every value has a default that runs the whole stack on one machine. A value can be set in
`streamsim.toml` (or the file named by `STREAMSIM_CONFIG`), one table per part, or by an
environment variable `STREAMSIM_<PART>__<FIELD>`, e.g. `STREAMSIM_SERVERS__CAPACITY=50`.
The environment wins over the file. Two variables keep their well-known names because
users already have them set for their clusters: `KAFKA_BOOTSTRAP_SERVERS` and `RAY_ADDRESS`.
"""

from __future__ import annotations

import difflib
import os
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from streamsim.errors import StreamsimError
from streamsim.events.faults import FaultKind

LOOPBACK = "127.0.0.1"


class Part(BaseModel):
    """A part's settings: a misspelt key is an error, never silently ignored; a number is
    finite (an infinite speed or rate overflows the clocks instead of meaning anything)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class KafkaSettings(Part):
    """The event bus: a local broker unless `bootstrap_servers` names a cluster."""

    bootstrap_servers: str | None = Field(
        default=None, description="An existing cluster; when set, no local broker starts."
    )
    host: str = LOOPBACK
    port: int = Field(default=9092, ge=1, le=65535)
    controller_port: int = Field(default=9093, ge=1, le=65535)
    heap: str = Field(default="512m", description="JVM heap of the local broker.")
    partitions: int = Field(default=6, ge=1, description="Partitions of the event topics.")
    retention_hours: int = Field(
        default=24, ge=1, description="Real hours a topic keeps messages the sink has read."
    )
    retention_bytes: int = Field(
        default=1 << 30,
        ge=1 << 20,
        description="Bytes each topic partition keeps at most, however fast events arrive.",
    )
    replication_factor: int = Field(default=1, ge=1, description="For topics we create.")

    @property
    def bootstrap(self) -> str:
        return self.bootstrap_servers or f"{self.host}:{self.port}"

    @property
    def is_local(self) -> bool:
        return self.bootstrap_servers is None


class RaySettings(Part):
    """The cluster engine: a local head on loopback unless `address` names a cluster."""

    address: str | None = Field(default=None, description="An existing Ray cluster to join.")
    host: str = LOOPBACK
    port: int = Field(default=6379, ge=1, le=65535)
    dashboard_port: int = Field(default=8265, ge=1, le=65535)
    num_cpus: int = Field(default=2, ge=1, description="CPUs the local head offers to Ray.")


class UsersSettings(Part):
    """The user service: one simulated user per `POST /users`."""

    host: str = LOOPBACK
    port: int = Field(default=8001, ge=1, le=65535)
    heartbeat_s: float = Field(default=10.0, gt=0, description="Site seconds between beats.")
    seed: int | None = Field(default=None, description="Fixes every user's randomness.")
    model_file: Path | None = Field(
        default=None,
        description="A behaviour model laid over streamsim/users/behaviour.toml (see there).",
    )
    per_replica: int = Field(
        default=10_000, ge=1, description="Users one replica holds before another is added."
    )
    cpus_per_replica: float = Field(default=0.1, gt=0, description="Ray CPUs per replica.")
    refresh_s: float = Field(
        default=2.0, gt=0, description="Real seconds between load checks and retirements."
    )
    fault_weights: dict[str, Annotated[float, Field(allow_inf_nan=False)]] = Field(
        default_factory=dict,
        description="How often each fault kind is drawn, relative to the others, for a faulty "
        "message (docs/faults.md); a kind not named weighs 1.",
    )

    @model_validator(mode="after")
    def _fault_weights_make_sense(self) -> UsersSettings:
        for name in sorted(set(self.fault_weights) - set(FaultKind)):
            close = difflib.get_close_matches(name, list(FaultKind), n=1)
            hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(FaultKind)}"
            raise ValueError(f"fault_weights names an unknown fault kind {name!r}; {hint}")
        negative = sorted(kind for kind, weight in self.fault_weights.items() if weight < 0)
        if negative:
            raise ValueError(f"fault_weights must not be negative: {negative}")
        if all(weight == 0 for weight in self.weights_by_kind().values()):
            raise ValueError("fault_weights are all zero: no fault could ever be drawn")
        return self

    def weights_by_kind(self) -> dict[FaultKind, float]:
        """Every kind's weight, 1 for those the table does not name."""
        return {kind: self.fault_weights.get(kind, 1.0) for kind in FaultKind}


class ServersSettings(Part):
    """The streaming servers, the router in front of them, and the autoscaler sizing them.

    Durations are in site seconds. The autoscaler follows the Kubernetes HPA rule; see
    `streamsim/servers/autoscaler.py` for what each knob does.
    """

    host: str = LOOPBACK
    router_port: int = Field(default=8002, ge=1, le=65535)
    capacity: int = Field(default=100, ge=1, description="Concurrent streams per server.")
    heartbeat_s: float = Field(default=10.0, gt=0, description="Site seconds between beats.")
    cpus_per_server: float = Field(default=0.1, gt=0, description="Ray CPUs per server.")
    min_servers: int = Field(default=1, ge=1, description="The group starts with this many.")
    max_servers: int = Field(default=10, ge=1)
    target_utilisation: float = Field(default=0.8, gt=0, le=1)
    tolerance: float = Field(default=0.1, ge=0, description="No change within 1 ± this ratio.")
    low_water_utilisation: float = Field(default=0.6, ge=0, le=1, description="Scale in below.")
    scale_interval_s: float = Field(default=5.0, gt=0, description="Between two decisions.")
    scale_down_window_s: float = Field(default=120.0, ge=0, description="Stabilisation window.")
    rate_period_s: float = Field(default=15.0, gt=0)
    scale_up_max_step: int = Field(default=2, ge=1, description="Servers added per period.")
    scale_down_max_step: int = Field(default=1, ge=1, description="Servers removed per period.")
    drain_timeout_s: float = Field(
        default=1800.0, gt=0, description="A draining server cuts what still plays after this."
    )
    stream_timeout_s: float = Field(
        default=4 * 3600.0,
        gt=0,
        description="A playing stream with no word from its user this long has lost it; "
        "longer than the longest video, so a viewer still watching is never cut.",
    )
    pause_stop_s: float = Field(
        default=600.0, gt=0, description="A stream paused this long is stopped (`paused`)."
    )
    spread_across_nodes: bool = Field(
        default=True, description="Place servers on as many Ray nodes as there are."
    )

    @model_validator(mode="after")
    def _room_for_the_minimum(self) -> ServersSettings:
        if self.max_servers < self.min_servers:
            raise ValueError(
                f"max_servers ({self.max_servers}) must be at least min_servers "
                f"({self.min_servers})"
            )
        return self


# Bounds of the live wave settings; the API's 422 answers and the page's sliders use them.
MAX_RATE_LIMIT = 10_000.0  # users per site second
PERIOD_LIMITS_S = (1.0, 86_400.0)  # from one site second to one site day


class WaveSettings(Part):
    """What the person running a simulation changes while it runs (page, API, CLI)."""

    max_rate: float = Field(
        default=2.0, ge=0, le=MAX_RATE_LIMIT, description="Peak new users per site second."
    )
    period_s: float = Field(
        # Two minutes: a newcomer sees the ramp to the first peak within a minute.
        default=120.0,
        ge=PERIOD_LIMITS_S[0],
        le=PERIOD_LIMITS_S[1],
        description="Site seconds from peak to peak.",
    )
    floor: float = Field(
        default=0.0,
        ge=0,
        le=MAX_RATE_LIMIT,
        description="Lowest rate, users per site second; at most max_rate.",
    )
    error_factor: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description=(
            "Share of broken messages of users created next: each user keeps the factor in "
            "force at its creation (docs/faults.md)."
        ),
    )
    arrivals: Literal["poisson", "even"] = Field(
        default="poisson", description="Poisson arrivals, or evenly spaced ones."
    )

    @model_validator(mode="after")
    def _floor_below_peak(self) -> WaveSettings:
        if self.floor > self.max_rate:
            raise ValueError(f"floor ({self.floor:g}) must not exceed max_rate ({self.max_rate:g})")
        return self


class OrchestratorSettings(WaveSettings):
    """The long-lived service that creates users on a sine wave.

    The wave's fields are only its starting values: changes made while it runs are kept in
    the state folder and win over these defaults at the next start (see orchestrator.live).
    """

    host: str = LOOPBACK
    port: int = Field(default=8080, ge=1, le=65535)
    max_in_flight: int = Field(default=64, ge=1, description="Concurrent POST /users at most.")
    token: SecretStr | None = Field(
        default=None,
        description="Needed (as `Authorization: Bearer <token>`) to change settings when the "
        "orchestrator listens on an address other than loopback.",
    )


class SinkSettings(Part):
    """The Kafka consumer group that writes the lake."""

    group_id: str = "streamsim-sink"
    batch_max_events: int = Field(default=20_000, ge=1)
    batch_max_seconds: float = Field(default=2.0, gt=0)
    lag_sample_s: float = Field(
        default=15.0,
        ge=0,
        description="Real seconds between samples of the group's consumer lag, which the sink "
        "lands in lake/consumer_lag for the warehouse; 0 records none.",
    )


class LakeSettings(Part):
    """How long the lake keeps events, and when its small files are merged."""

    retention_hours: int = Field(
        default=7 * 24,
        ge=1,
        description="Site hours of history the lake keeps, counted on arrival: a partition "
        "(events hour, quarantine or truth day, all named by when the sink received them) is "
        "deleted once it ended retention_hours / speed real hours ago (the warehouse keeps "
        "what it loaded).",
    )
    compact_quiet_s: float = Field(
        default=300.0,
        gt=0,
        description="Real seconds a partition must go without a new file before its files "
        "are merged into one.",
    )


class PipelineSettings(Part):
    """Dagster and the SQLMesh project it runs."""

    host: str = LOOPBACK
    port: int = Field(default=3000, ge=1, le=65535)
    sensor_interval_s: int = Field(
        default=5, ge=1, description="Between the lake sensor's looks for a fresh loop to start."
    )
    look_interval_s: float = Field(
        default=2.0, gt=0, le=60, description="Between the fresh loop's looks for new lake files."
    )
    fresh_loop_minutes: float = Field(
        default=60,
        gt=0,
        le=24 * 60,
        description="How long one fresh loop run lasts before the sensor starts the next.",
    )
    safety_run_minutes: int = Field(
        default=5,
        ge=1,
        le=60,
        description="Start the fresh loop every this many minutes if the sensor has not.",
    )
    upkeep_minutes: int = Field(
        default=15, ge=1, le=60, description="Between lake compaction and retention runs."
    )
    quality_run_minutes: int = Field(
        default=2, ge=1, le=60, description="Between runs of the data-quality models."
    )
    freshness_goal_s: int = Field(
        default=60, ge=1, description="Events should be queryable this soon after emission."
    )


class BiSettings(Part):
    """Superset: dashboards and SQL Lab over the warehouse's read-only serving copy."""

    enabled: bool = Field(default=True, description="Start Superset with the stack.")
    host: str = LOOPBACK
    port: int = Field(default=8088, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, description="Gunicorn worker processes.")
    threads: int = Field(default=4, ge=1, description="Threads per worker: charts load at once.")
    refresh_s: int = Field(
        default=30, ge=10, description="Seconds between a dashboard's own refreshes."
    )
    virtualenv: Path | None = Field(
        default=None,
        description="Superset's own virtualenv; `.venv-superset` beside the package by default.",
    )


class Settings(BaseSettings):
    """Everything streamsim reads; built once per process by `load_settings()`."""

    model_config = SettingsConfigDict(
        env_prefix="STREAMSIM_", env_nested_delimiter="__", extra="forbid", allow_inf_nan=False
    )

    state_dir: Path = Field(default=Path(".state"), description="All data and logs live here.")
    speed: float = Field(default=1.0, gt=0, description="Site seconds per real second.")
    run_id: str = Field(default="adhoc", description="Set by `streamsim up` for its children.")
    site_origin: float | None = Field(
        default=None, description="Unix time at which site time equals real time."
    )
    kafka: KafkaSettings = KafkaSettings()
    ray: RaySettings = RaySettings()
    users: UsersSettings = UsersSettings()
    servers: ServersSettings = ServersSettings()
    orchestrator: OrchestratorSettings = OrchestratorSettings()
    sink: SinkSettings = SinkSettings()
    lake: LakeSettings = LakeSettings()
    pipeline: PipelineSettings = PipelineSettings()
    bi: BiSettings = BiSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config_file = Path(os.environ.get("STREAMSIM_CONFIG", "streamsim.toml"))
        toml = TomlConfigSettingsSource(settings_cls, toml_file=config_file)
        return (init_settings, env_settings, toml)

    @cached_property
    def state(self) -> Path:
        return self.state_dir.resolve()

    @property
    def lake_dir(self) -> Path:
        return self.state / "lake"

    @property
    def warehouse_path(self) -> Path:
        """The DuckDB file SQLMesh writes; only the pipeline opens it."""
        return self.state / "warehouse" / "warehouse.duckdb"

    @property
    def serving_path(self) -> Path:
        """A read-only copy of the warehouse, republished after each pipeline run."""
        return self.state / "warehouse" / "serving.duckdb"

    @property
    def superset_home(self) -> Path:
        """Superset's metadata, secret key and admin password: the state folder keeps them."""
        return self.state / "superset"

    @property
    def logs_dir(self) -> Path:
        return self.state / "logs"


def load_settings(**overrides: object) -> Settings:
    """Read settings, letting the two cluster variables people already use take effect."""
    check_environment_names()
    check_config_file()
    settings = Settings(**overrides)  # type: ignore[arg-type]
    kafka_cluster = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if kafka_cluster:
        settings.kafka.bootstrap_servers = kafka_cluster
    ray_cluster = os.environ.get("RAY_ADDRESS")
    if ray_cluster:
        settings.ray.address = ray_cluster
    return settings


def known_environment_names() -> set[str]:
    names = {"STREAMSIM_CONFIG"}
    for field, info in Settings.model_fields.items():
        names.add(f"STREAMSIM_{field.upper()}")
        part = info.annotation
        if isinstance(part, type) and issubclass(part, BaseModel):
            names.update(f"STREAMSIM_{field.upper()}__{sub.upper()}" for sub in part.model_fields)
    return names


def check_config_file() -> None:
    """A config file named on purpose must exist; only the default one may be absent."""
    named = os.environ.get("STREAMSIM_CONFIG")
    if named and not Path(named).exists():
        raise StreamsimError(
            f"STREAMSIM_CONFIG names {named}, which does not exist: no setting was read from it"
        )


def check_environment_names() -> None:
    """A misspelt variable would otherwise be ignored without a word."""
    known = known_environment_names()
    for name in sorted(os.environ):
        if name.startswith("STREAMSIM_") and name.upper() not in known:
            close = difflib.get_close_matches(name.upper(), known, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise StreamsimError(f"unknown setting {name} in the environment{hint}")
