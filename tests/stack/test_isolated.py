"""A stack of its own: free ports for every port setting, none of the caller's settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamsim.settings import load_settings
from streamsim.stack.isolated import ignored_settings, isolated_env, port_settings, stack_ports


@pytest.mark.timeout(10)
def test_every_port_setting_of_every_part_gets_a_port_of_its_own(tmp_path: Path) -> None:
    env = isolated_env(tmp_path / "state")
    ports = stack_ports(env)

    assert {"KAFKA__PORT", "RAY__DASHBOARD_PORT", "SERVERS__ROUTER_PORT", "BI__PORT"} <= set(
        port_settings()
    )
    assert len(set(ports)) == len(ports) == len(port_settings())
    assert 9092 not in ports and 8088 not in ports


@pytest.mark.timeout(10)
def test_the_callers_settings_and_addresses_stay_out_and_the_asked_ones_go_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMSIM_USERS__SEED", "99")
    monkeypatch.setenv("STREAMSIM_CONFIG", str(tmp_path / "mine.toml"))
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    (tmp_path / "mine.toml").write_text("[orchestrator]\nmax_rate = 50\n")

    env = isolated_env(tmp_path / "state", {"ORCHESTRATOR__ERROR_FACTOR": 0.3})
    monkeypatch.setattr("os.environ", env)
    settings = load_settings()

    assert "KAFKA_BOOTSTRAP_SERVERS" not in env
    assert settings.users.seed != 99
    assert settings.orchestrator.max_rate != 50
    assert settings.orchestrator.error_factor == 0.3
    assert settings.state_dir == tmp_path / "state"
    assert settings.kafka.port == int(env["STREAMSIM_KAFKA__PORT"])
    assert ignored_settings({"STREAMSIM_B": "1", "PATH": "/bin", "STREAMSIM_A": ""}) == [
        "STREAMSIM_A",
        "STREAMSIM_B",
    ]
