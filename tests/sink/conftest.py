"""A Kafka broker of the sink tests' own, on free ports, shared by the whole session."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sink_support import SinkSettingsFactory

from streamsim.settings import Settings, load_settings
from streamsim.stack.broker import running_broker
from streamsim.stack.processes import free_port


@pytest.fixture(scope="session")
def broker_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Free ports, so the tests never meet a broker someone else runs on 9092."""
    state = tmp_path_factory.mktemp("broker")
    with pytest.MonkeyPatch.context() as env:
        # Neither a cluster named in the environment nor a config file may steer the tests.
        env.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
        env.setenv("STREAMSIM_CONFIG", os.devnull)
        kafka = {"port": free_port(), "controller_port": free_port()}
        with running_broker(load_settings(state_dir=state, kafka=kafka)) as settings:
            yield settings


_groups = itertools.count()


@pytest.fixture
def sink_settings(broker_settings: Settings, tmp_path: Path) -> SinkSettingsFactory:
    """Settings for one test's sink: its own lake and its own consumer group."""

    def make(**sink: object) -> Settings:
        group = f"sink-test-{next(_groups)}-{tmp_path.name}"
        return load_settings(
            state_dir=tmp_path / "state",
            kafka={"port": broker_settings.kafka.port},
            sink={"group_id": group, **sink},
        )

    return make
