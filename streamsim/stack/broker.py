"""The local Apache Kafka broker, assembled from Maven Central jars and run with Java 17.

Kafka's shell scripts only put every jar on the class path and call two classes, so we do
the same: `kafka.tools.StorageTool format` once for a new data folder (KRaft needs a
cluster id and a formatted log), then `kafka.Kafka` with a single node that is both
broker and controller.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from streamsim.bus import ensure_topics
from streamsim.paths import KAFKA_DIR
from streamsim.settings import KafkaSettings, Settings
from streamsim.stack.errors import StackError
from streamsim.stack.processes import Process, ensure_port_free, wait_for_port

log = logging.getLogger(__name__)

MIN_JAVA = 17


def java_binary() -> str:
    java = shutil.which("java")
    if java is None:
        raise StackError(
            "Java is not installed; the Kafka broker needs Java 17+: run "
            "`bash kafka/install-prerequisites.sh` (apt-get install openjdk-17-jre-headless), "
            "or set KAFKA_BOOTSTRAP_SERVERS to use a running cluster"
        )
    found = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    match = re.search(r'version "(\d+)', found)
    if match is None or int(match.group(1)) < MIN_JAVA:
        raise StackError(
            f"the Kafka broker needs Java {MIN_JAVA}+, found: {found.splitlines()[:1]}; "
            "install openjdk-17 or set KAFKA_BOOTSTRAP_SERVERS"
        )
    return java


def class_path() -> str:
    libs = KAFKA_DIR / "libs"
    if not any(libs.glob("kafka_2.13-*.jar")):
        raise StackError(f"the Kafka jars are missing from {libs}: run `make install`")
    return str(libs / "*")


def server_properties(kafka: KafkaSettings, data_dir: Path) -> str:
    listener = f"{kafka.host}:{kafka.port}"
    controller = f"{kafka.host}:{kafka.controller_port}"
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.bootstrap.servers={controller}",
            f"listeners=PLAINTEXT://{listener},CONTROLLER://{controller}",
            f"advertised.listeners=PLAINTEXT://{listener}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "inter.broker.listener.name=PLAINTEXT",
            f"log.dirs={data_dir}",
            f"num.partitions={kafka.partitions}",
            f"log.retention.hours={kafka.retention_hours}",
            f"log.retention.bytes={kafka.retention_bytes}",
            "auto.create.topics.enable=false",
            # One node: the internal topics cannot have more than one replica.
            "offsets.topic.replication.factor=1",
            "share.coordinator.state.topic.replication.factor=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "",
        ]
    )


class LocalBroker:
    """A single-node KRaft broker whose data lives under the state folder."""

    def __init__(self, settings: Settings) -> None:
        self._kafka = settings.kafka
        self._dir = settings.state / "kafka"
        self._data = self._dir / "data"
        self._config = self._dir / "server.properties"
        self._logs = settings.logs_dir
        self._process: Process | None = None

    def start(self, timeout_s: float = 90.0) -> None:
        ensure_port_free(self._kafka.host, self._kafka.port, "STREAMSIM_KAFKA__PORT")
        ensure_port_free(
            self._kafka.host, self._kafka.controller_port, "STREAMSIM_KAFKA__CONTROLLER_PORT"
        )
        java, cp = java_binary(), class_path()
        self._dir.mkdir(parents=True, exist_ok=True)
        self._config.write_text(server_properties(self._kafka, self._data))
        if not (self._data / "meta.properties").exists():
            self._format(java, cp)
        self._process = Process(
            "kafka", self._java_argv(java, cp, "kafka.Kafka", str(self._config)), self._logs
        )
        self._process.start()
        wait_for_port(
            self._kafka.host, self._kafka.port, timeout_s, "the Kafka broker", self._process
        )

    def _java_argv(self, java: str, cp: str, main_class: str, *args: str) -> list[str]:
        return [
            java,
            f"-Xmx{self._kafka.heap}",
            "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={KAFKA_DIR / 'log4j2.yaml'}",
            "-cp",
            cp,
            main_class,
            *args,
        ]

    def _format(self, java: str, cp: str) -> None:
        log.info("formatting a new Kafka data folder in %s", self._data)
        cluster_id = self._run_tool(java, cp, "random-uuid").strip().splitlines()[-1]
        self._run_tool(
            java, cp, "format", "-t", cluster_id, "-c", str(self._config), "--standalone"
        )

    def _run_tool(self, java: str, cp: str, *args: str) -> str:
        argv = self._java_argv(java, cp, "kafka.tools.StorageTool", *args)
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise StackError(f"Kafka's StorageTool {args[0]} failed: {done.stderr.strip()}")
        return done.stdout

    def alive(self) -> bool:
        return self._process is not None and self._process.alive()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop(grace_s=30.0)


@contextmanager
def running_broker(settings: Settings) -> Iterator[Settings]:
    """A local broker with the event topics made, stopped on the way out (tests, benches)."""
    broker = LocalBroker(settings)
    broker.start()
    try:
        ensure_topics(settings.kafka)
        yield settings
    finally:
        broker.stop()
