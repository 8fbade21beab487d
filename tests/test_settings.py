"""Settings from defaults, a TOML file and the environment, in that order of strength."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from streamsim.errors import StreamsimError
from streamsim.events.faults import FaultKind
from streamsim.settings import load_settings

CLUSTER_VARIABLES = ("KAFKA_BOOTSTRAP_SERVERS", "RAY_ADDRESS")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting of the machine's own leaks in, and no streamsim.toml of the checkout."""
    for name in CLUSTER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name in list(os.environ):
        if name.startswith("STREAMSIM_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def write_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    config = tmp_path / "elsewhere.toml"
    config.write_text(text)
    monkeypatch.setenv("STREAMSIM_CONFIG", str(config))


def test_defaults_run_everything_on_loopback() -> None:
    settings = load_settings()

    assert settings.servers.capacity == 100
    assert settings.kafka.bootstrap == "127.0.0.1:9092" and settings.kafka.is_local
    assert settings.ray.address is None
    hosts = {settings.users.host, settings.servers.host, settings.orchestrator.host}
    assert hosts | {settings.pipeline.host, settings.ray.host} == {"127.0.0.1"}


def test_an_environment_variable_sets_a_nested_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMSIM_SERVERS__CAPACITY", "50")

    assert load_settings().servers.capacity == 50


def test_the_file_named_by_streamsim_config_takes_effect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(tmp_path, monkeypatch, "speed = 4.0\n[servers]\ncapacity = 30\n")

    settings = load_settings()

    assert settings.servers.capacity == 30
    assert settings.speed == 4.0


def test_streamsim_toml_in_the_working_folder_is_read_by_default(tmp_path: Path) -> None:
    (tmp_path / "streamsim.toml").write_text("[orchestrator]\nmax_rate = 7.5\n")

    assert load_settings().orchestrator.max_rate == 7.5


def test_the_environment_wins_over_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(tmp_path, monkeypatch, "[servers]\ncapacity = 30\nheartbeat_s = 5.0\n")
    monkeypatch.setenv("STREAMSIM_SERVERS__CAPACITY", "50")

    settings = load_settings()

    assert settings.servers.capacity == 50
    assert settings.servers.heartbeat_s == 5.0  # the file still sets what env leaves alone


def test_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMSIM_SPEED", "3")

    assert load_settings(speed=9.0).speed == 9.0


def test_the_well_known_cluster_variables_point_at_clusters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092,127.0.0.1:19093")
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:16379")

    settings = load_settings()

    assert settings.kafka.bootstrap_servers == "127.0.0.1:19092,127.0.0.1:19093"
    assert settings.kafka.bootstrap == "127.0.0.1:19092,127.0.0.1:19093"
    assert not settings.kafka.is_local
    assert settings.ray.address == "127.0.0.1:16379"


def test_the_cluster_variables_leave_later_settings_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092")
    load_settings()
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS")

    assert load_settings().kafka.is_local  # no shared default object was changed


@pytest.mark.parametrize(
    ("variable", "value", "field"),
    [
        ("STREAMSIM_SERVERS__CAPACITY", "0", "capacity"),
        ("STREAMSIM_SPEED", "0", "speed"),
        ("STREAMSIM_ORCHESTRATOR__ERROR_FACTOR", "1.5", "error_factor"),
        ("STREAMSIM_KAFKA__PORT", "70000", "port"),
        ("STREAMSIM_SERVERS__CAPACITY", "many", "capacity"),
    ],
)
def test_a_bad_value_is_a_validation_error_naming_the_field(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, field: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(ValidationError) as invalid:
        load_settings()

    assert [error["loc"][-1] for error in invalid.value.errors()] == [field]


def test_a_bad_value_in_the_file_is_a_validation_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(tmp_path, monkeypatch, "[servers]\ncapacity = 0\n")

    with pytest.raises(ValidationError):
        load_settings()


def test_an_unknown_key_in_the_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(tmp_path, monkeypatch, "[servers]\ncapacity = 10\n[serverz]\ncapacity = 5\n")

    with pytest.raises(ValidationError):
        load_settings()


def test_the_state_folder_holds_lake_warehouse_and_logs(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path / "state")

    assert settings.lake_dir == tmp_path / "state" / "lake"
    assert settings.serving_path == tmp_path / "state" / "warehouse" / "serving.duckdb"
    assert settings.logs_dir == tmp_path / "state" / "logs"


def test_fewer_max_servers_than_min_servers_is_refused() -> None:
    with pytest.raises(ValidationError, match="max_servers"):
        load_settings(servers={"min_servers": 3, "max_servers": 2})


def test_fault_weights_default_to_one_each_and_a_table_changes_only_the_kinds_it_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert set(load_settings().users.weights_by_kind().values()) == {1.0}
    write_config(tmp_path, monkeypatch, "[users.fault_weights]\nnot_json = 0\nnull_field = 3\n")

    weights = load_settings().users.weights_by_kind()

    assert (weights[FaultKind.NOT_JSON], weights[FaultKind.NULL_FIELD]) == (0.0, 3.0)
    assert weights[FaultKind.MISSING_FIELD] == 1.0
    assert set(weights) == set(FaultKind)


@pytest.mark.parametrize(
    ("weights", "named"),
    [
        ({"not_jsn": 1.0}, "'not_jsn'; did you mean not_json?"),
        ({"telepathy": 1.0}, "'telepathy'; known: missing_field"),
        ({"null_field": -1.0}, "must not be negative: ['null_field']"),
        (dict.fromkeys(FaultKind, 0.0), "all zero"),
    ],
)
def test_fault_weights_refuse_unknown_kinds_negative_weights_and_all_zero(
    weights: dict[str, float], named: str
) -> None:
    with pytest.raises(ValidationError, match=re.escape(named)):
        load_settings(users={"fault_weights": weights})


def test_fault_weights_come_from_the_environment_as_a_json_table(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STREAMSIM_USERS__FAULT_WEIGHTS", '{"truncated_payload": 5}')

    assert load_settings().users.weights_by_kind()[FaultKind.TRUNCATED_PAYLOAD] == 5.0


def test_lake_retention_is_a_whole_number_of_site_hours_and_misspellings_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(tmp_path, monkeypatch, "[lake]\nretention_hours = 0\n")
    with pytest.raises(ValidationError, match=r"lake\.retention_hours"):
        load_settings()

    write_config(tmp_path, monkeypatch, "[lake]\nretention_days = 3\n")
    with pytest.raises(ValidationError, match="retention_days"):
        load_settings()

    write_config(tmp_path, monkeypatch, "[lake]\nretention_hours = 48\n")
    assert load_settings().lake.retention_hours == 48


def test_a_named_config_file_that_is_missing_is_an_error_not_defaults(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("STREAMSIM_CONFIG", str(tmp_path / "typo.toml"))

    with pytest.raises(
        StreamsimError, match=r"STREAMSIM_CONFIG names .*typo\.toml, which does not exist"
    ):
        load_settings()


def test_the_default_config_file_may_be_absent() -> None:
    assert load_settings().servers.capacity == 100
