"""Shared fixtures: real brokers on loopback for the integration tests, and unique topic names.

The ``broker`` fixture starts each kind of broker once per test session, on a free port:
Tansu (the embedded default) and Apache Kafka (KRaft, from its Maven jars, needs Java 17 and
Maven or a filled jar cache). A broker that cannot start skips the tests that need it, with
the reason, except in CI (``CI=true``), where it fails them: there a missing broker is a
broken build, not a missing tool.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator

import pytest

from stream.brokers import ApacheKafkaBroker, BrokerProcess, BrokerStartError, TansuBroker
from stream.brokers.process import free_port
from stream.topics import TOPICS, Topics

BROKERS: dict[str, type[BrokerProcess]] = {"tansu": TansuBroker, "kafka": ApacheKafkaBroker}


@pytest.fixture(scope="session", params=list(BROKERS))
def broker(request: pytest.FixtureRequest) -> Iterator[BrokerProcess]:
    """A running broker with ``.bootstrap`` (``127.0.0.1:PORT``) and ``.name``, per kind."""
    launcher = BROKERS[request.param](port=free_port())
    try:
        launcher.start()
    except BrokerStartError as exc:
        reason = f"{request.param} broker cannot start: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)

    try:
        yield launcher
    finally:
        launcher.stop()


@pytest.fixture
def topic_prefix(request: pytest.FixtureRequest) -> str:
    """A topic-name prefix no other test uses: the test's name plus a random suffix."""
    test_name = re.sub(r"[^a-zA-Z0-9._-]+", "-", request.node.name).strip("-")[:60]
    return f"{test_name}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def fresh_topics(topic_prefix: str) -> Topics:
    """The experiment's topics under this test's own prefix (not created on any broker)."""
    return TOPICS.with_prefix(f"{topic_prefix}-")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say per broker how many integration tests passed, failed or were skipped.

    The CI log must show that the integration tests really ran against both brokers; a
    skipped broker would otherwise hide in the overall counts.
    """
    counts: dict[tuple[str, str], int] = {}
    for outcome in ("passed", "failed", "error", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            if report.when != "call" and outcome == "passed":
                continue
            for name in BROKERS:
                if f"[{name}" in report.nodeid or f"-{name}]" in report.nodeid:
                    counts[name, outcome] = counts.get((name, outcome), 0) + 1

    if counts:
        terminalreporter.section("integration tests per broker")
        for name in BROKERS:
            line = ", ".join(
                f"{counts.get((name, outcome), 0)} {outcome}"
                for outcome in ("passed", "failed", "error", "skipped")
            )
            terminalreporter.write_line(f"{name}: {line}")
