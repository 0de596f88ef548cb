"""A Kafka-compatible broker run as a child process on loopback, from start to clean stop."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from types import TracebackType
from typing import Self

from stream.admin import BrokerExited, wait_for_broker

logger = logging.getLogger(__name__)

# Colour codes some brokers (Tansu) write to their log even when it is not a terminal.
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class BrokerStartError(RuntimeError):
    """The broker process could not be started or did not become ready in time."""


class BrokerProcess:
    """Base class of the local brokers: one child process, its log file and its lifecycle.

    A subclass says how to prepare the broker (``_prepare``, e.g. write a configuration) and
    which command runs it (``_command``). This class starts the process with its output in a
    log file, waits until the broker answers Kafka metadata requests, and stops it with
    SIGTERM, then SIGKILL if it does not exit in time.

    Parameters
    ----------
    port
        TCP port clients connect to.
    host
        Interface to listen on and to advertise to clients.
    ready_timeout_s
        How long ``start`` waits for the broker to answer before giving up.
    stop_timeout_s
        How long ``stop`` waits after SIGTERM before it kills the process.

    Attributes
    ----------
    name
        Short name of the broker kind, used in logs and test ids.
    work_dir
        Temporary directory holding the log file (and data, for brokers that keep any).
    startup_s
        Seconds from launching the process to the first answered metadata request, once
        started.
    """

    name = "broker"

    def __init__(
        self,
        port: int,
        host: str = "127.0.0.1",
        ready_timeout_s: float = 60.0,
        stop_timeout_s: float = 15.0,
    ) -> None:
        self.port = port
        self.host = host
        self.ready_timeout_s = ready_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.work_dir: Path | None = None
        self.startup_s: float | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def bootstrap(self) -> str:
        """The ``host:port`` string Kafka clients bootstrap from."""
        return f"{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        """File that receives the broker's standard output and error."""
        if self.work_dir is None:
            raise RuntimeError(f"{self.name} broker has not been started")
        return self.work_dir / "broker.log"

    def _prepare(self) -> None:
        """Get everything the command needs (binaries, configuration) before it runs."""

    def _command(self) -> list[str]:
        """The argument vector that runs the broker in the foreground."""
        raise NotImplementedError

    def start(self) -> None:
        """Launch the broker and return once it answers metadata requests.

        Raises
        ------
        BrokerStartError
            The process exited early or did not answer within ``ready_timeout_s``; the
            message carries the tail of the broker's log.
        """
        if self._process is not None:
            raise RuntimeError(f"{self.name} broker is already running on {self.bootstrap}")
        if not 0 < self.port < 65_536:
            raise BrokerStartError(f"port {self.port} is not a TCP port (1 to 65535)")
        if not port_is_free(self.host, self.port):
            # Otherwise the readiness check would be answered by whatever holds the port.
            raise BrokerStartError(f"{self.bootstrap} is already in use; choose another port")

        self._tmp = tempfile.TemporaryDirectory(prefix=f"streamrec-{self.name}-")
        self.work_dir = Path(self._tmp.name)
        self._prepare()

        started_at = time.monotonic()
        self._launch()
        try:
            wait_for_broker(self.bootstrap, self.ready_timeout_s, still_running=self.is_running)
        except (BrokerExited, TimeoutError) as exc:
            # Read the log before stop() removes the directory that holds it.
            log_tail = self.log_tail()
            self.stop()
            raise BrokerStartError(
                f"{self.name} broker on {self.bootstrap} did not become ready: {exc}\n"
                f"last lines of its log:\n{log_tail}"
            ) from exc

        self.startup_s = time.monotonic() - started_at
        logger.info(
            "broker_ready name=%s bootstrap=%s startup_s=%.2f",
            self.name,
            self.bootstrap,
            self.startup_s,
        )

    def _launch(self) -> None:
        command = self._command()
        logger.debug("broker_launch name=%s command=%s", self.name, command)
        with open(self.log_path, "ab") as log_file:
            # A new session keeps a terminal's Ctrl-C away from the broker, so that the
            # owner decides when to stop it, and lets stop() signal the whole group.
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=self.work_dir,
                start_new_session=True,
                preexec_fn=_terminate_with_parent,
            )

    def is_running(self) -> bool:
        """Whether the broker process exists and has not exited."""
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """Stop the broker: SIGTERM, then SIGKILL after ``stop_timeout_s``; idempotent."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            self._signal(process, signal.SIGTERM)
            try:
                process.wait(timeout=self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                logger.warning(
                    "broker_kill name=%s pid=%d reason=sigterm_timeout timeout_s=%.0f",
                    self.name,
                    process.pid,
                    self.stop_timeout_s,
                )
                self._signal(process, signal.SIGKILL)
                process.wait()
            logger.info("broker_stopped name=%s bootstrap=%s", self.name, self.bootstrap)

        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    @staticmethod
    def _signal(process: subprocess.Popen[bytes], signum: int) -> None:
        # The process may have exited between the check and the signal.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signum)

    def log_tail(self, n_lines: int = 40) -> str:
        """The last lines of the broker's log, or a note when there is none yet."""
        try:
            with open(self.log_path, errors="replace") as log_file:
                tail = "".join(deque(log_file, maxlen=n_lines))
        except (OSError, RuntimeError):
            return "(no log written)"
        return ANSI_ESCAPE.sub("", tail) or "(log is empty)"

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.is_running() else "stopped"
        return f"<{type(self).__name__} {self.bootstrap} {state}>"


def _terminate_with_parent() -> None:
    """In the child before exec: ask Linux to SIGTERM it when the launching thread ends.

    Without this a test run or command killed with SIGKILL leaves its broker running, holding
    its port. Linux ties the signal to the thread that started the process, so a broker
    started from a short-lived thread stops when that thread ends; start brokers from a
    thread that outlives them. Elsewhere than Linux this does nothing.
    """
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


def port_is_free(host: str, port: int) -> bool:
    """Whether nothing listens on ``host:port``, by trying to bind it.

    The probe binds as servers do, with SO_REUSEADDR, so a port that a stopped server left in
    TIME_WAIT counts as free, as it is for the next server, and only a live listener does not.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (another process may still take it later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]
