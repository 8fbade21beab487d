"""A Kafka broker of the sink tests' own, on free ports, shared by the whole session."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

# kafka-python 3.0.12 reads its protocol schemas with the deprecated
# importlib.resources.read_text while its modules load; the warning is its own, not ours.
# Goes away once kafka-python stops calling read_text, or pyproject filters the warning.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import kafka.admin
    import kafka.consumer
    import kafka.producer  # noqa: F401

from sink_support import SinkSettingsFactory

from streamsim.bus import ensure_topics
from streamsim.settings import Settings, load_settings
from streamsim.stack.broker import LocalBroker
from streamsim.stack.processes import free_port


@pytest.fixture(scope="session")
def broker_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Free ports, so the tests never meet a broker someone else runs on 9092."""
    state = tmp_path_factory.mktemp("broker")
    with pytest.MonkeyPatch.context() as env:
        # Neither a cluster named in the environment nor a config file may steer the tests.
        env.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
        env.setenv("STREAMSIM_CONFIG", str(state / "absent.toml"))
        kafka = {"port": free_port(), "controller_port": free_port()}
        settings = load_settings(state_dir=state, kafka=kafka)
        broker = LocalBroker(settings)
        broker.start()
        try:
            ensure_topics(settings.kafka)
            yield settings
        finally:
            broker.stop()


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
