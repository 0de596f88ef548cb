"""A single-node Apache Kafka broker in KRaft mode, run from the Maven Central jars with Java."""

from __future__ import annotations

import base64
import logging
import shutil
import subprocess
import time
import uuid

from stream.brokers.maven import DEFAULT_KAFKA_VERSION, KafkaFetchError, fetch_kafka
from stream.brokers.process import BrokerProcess, BrokerStartError, free_port

logger = logging.getLogger(__name__)

# Heap for a test broker; Kafka's own scripts default to 1 GB, too much beside the tests.
JVM_OPTIONS = ["-Xms128m", "-Xmx512m", "-XX:+UseG1GC", "-Djava.awt.headless=true"]

LOG4J2_PROPERTIES = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
# The request log and the state change log repeat every request; keep them quiet.
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
"""


class ApacheKafkaBroker(BrokerProcess):
    """A single-node Apache Kafka broker (KRaft, broker and controller in one JVM) on loopback.

    The jars come from Maven Central on first use (see ``stream.brokers.maven``) and are
    cached outside the repository. Each start gets a fresh temporary log directory, so
    nothing survives a stop, like the Tansu broker.

    Parameters
    ----------
    port
        TCP port of the client listener.
    version
        Apache Kafka version (the ``org.apache.kafka:kafka_2.13`` artifact), 4.x.
    host
        Interface to listen on and to advertise to clients.
    controller_port
        TCP port of the KRaft controller listener; a free one when omitted.
    ready_timeout_s
        How long ``start`` waits for the broker to answer before giving up.

    Attributes
    ----------
    bootstrap
        ``host:port`` for Kafka clients.
    startup_s
        Seconds from launching the JVM to the first answered metadata request (the jar
        fetch and the storage format come before and are not included).
    fetch_s
        Seconds spent getting the jars at the last start (near zero once cached).

    Examples
    --------
    >>> with ApacheKafkaBroker(port=29092) as broker:  # doctest: +SKIP
    ...     broker.bootstrap
    '127.0.0.1:29092'
    """

    name = "kafka"

    def __init__(
        self,
        port: int,
        version: str = DEFAULT_KAFKA_VERSION,
        host: str = "127.0.0.1",
        controller_port: int | None = None,
        ready_timeout_s: float = 90.0,
    ) -> None:
        super().__init__(port, host=host, ready_timeout_s=ready_timeout_s, stop_timeout_s=30.0)
        if not version.startswith("4."):
            raise ValueError(
                f"Apache Kafka {version} is not supported here: the server configuration "
                "and logging setup written by this launcher are those of Kafka 4.x"
            )
        self.version = version
        self.controller_port = controller_port
        self.fetch_s: float | None = None
        self._classpath = ""

    def _prepare(self) -> None:
        if shutil.which("java") is None:
            raise BrokerStartError("Apache Kafka needs Java 17 or newer and `java` is not on PATH")

        try:
            self._classpath = self._fetch_classpath()
        except KafkaFetchError as exc:
            raise BrokerStartError(str(exc)) from exc

        assert self.work_dir is not None
        controller_port = self.controller_port or free_port(self.host)
        (self.work_dir / "log4j2.properties").write_text(LOG4J2_PROPERTIES)
        self._config_path = self.work_dir / "server.properties"
        self._config_path.write_text(self._server_properties(controller_port))
        self._format_storage()

    def _fetch_classpath(self) -> str:
        started_at = time.monotonic()
        jars = fetch_kafka(self.version)
        self.fetch_s = time.monotonic() - started_at
        return ":".join(str(jar) for jar in jars)

    def _server_properties(self, controller_port: int) -> str:
        """KRaft settings of a one-node cluster whose data lives in the work directory."""
        assert self.work_dir is not None
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{self.host}:{controller_port}",
            "listeners": f"PLAINTEXT://{self.host}:{self.port},"
            f"CONTROLLER://{self.host}:{controller_port}",
            "advertised.listeners": f"PLAINTEXT://{self.host}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.work_dir / "data"),
            # One node holds every replica of the internal topics.
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            # Fewer offsets partitions make the first consumer group ready sooner.
            "offsets.topic.num.partitions": "4",
            # A test broker has no reason to wait for more members before a first rebalance.
            "group.initial.rebalance.delay.ms": "0",
            # Small segments keep test data small; 1 MiB is the least Kafka 4 accepts.
            "log.segment.bytes": str(1024 * 1024),
            "num.partitions": "1",
        }
        return "".join(f"{key}={value}\n" for key, value in settings.items())

    def _java(self, main_class: str, *args: str) -> list[str]:
        assert self.work_dir is not None
        log4j = f"-Dlog4j2.configurationFile={self.work_dir / 'log4j2.properties'}"
        java = shutil.which("java") or "java"
        return [java, *JVM_OPTIONS, log4j, "-cp", self._classpath, main_class, *args]

    def _format_storage(self) -> None:
        """Write the KRaft metadata (cluster id, node id) into the empty log directory."""
        command = self._java(
            "kafka.tools.StorageTool",
            "format",
            "--config",
            str(self._config_path),
            "--cluster-id",
            _cluster_id(),
            "--ignore-formatted",
        )
        result = subprocess.run(command, capture_output=True, text=True, cwd=self.work_dir)
        if result.returncode != 0:
            raise BrokerStartError(
                f"formatting the Kafka storage failed ({result.returncode}):\n"
                f"{result.stdout[-2000:]}{result.stderr[-2000:]}"
            )

    def _command(self) -> list[str]:
        return self._java("kafka.Kafka", str(self._config_path))


def _cluster_id() -> str:
    """A random cluster id in Kafka's form: a UUID as unpadded URL-safe base64.

    One id in 64 would start with "-", which the storage tool's argument parser reads as an
    option and refuses; those are drawn again.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id
