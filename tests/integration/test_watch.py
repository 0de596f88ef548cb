"""`streamrec watch` tails a topic on a real broker: from the beginning, as JSON or readable."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from kafka import KafkaProducer

from stream.admin import create_topics
from stream.brokers.process import BrokerProcess
from stream.events import Interaction

pytestmark = pytest.mark.broker


def _click(number: int) -> Interaction:
    return Interaction(
        event_id=f"e{number}",
        event_type="click",
        event_at=datetime(2026, 1, 5, tzinfo=UTC),
        user_id=f"u{number}",
        item_id=f"i{number}",
        session_id="s",
    )


def _watch(broker: BrokerProcess, topic: str, *options: str) -> list[str]:
    command = [sys.executable, "-m", "streamrec", "watch", topic, "-b", broker.bootstrap, *options]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    return finished.stdout.splitlines()


def test_watch_prints_messages_from_the_beginning_up_to_the_limit(
    broker: BrokerProcess, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}-events"
    create_topics(broker.bootstrap, [topic], partitions=1)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    for number in range(5):
        producer.send(topic, value=_click(number).to_bytes()).get(timeout=30)
    producer.send(topic, value=b"not json").get(timeout=30)
    producer.close()

    as_json = _watch(broker, topic, "--from-beginning", "--limit", "3", "--json")
    readable = _watch(broker, topic, "--from-beginning", "--limit", "6")

    assert [json.loads(line)["event_id"] for line in as_json] == ["e0", "e1", "e2"]
    assert len(readable) == 6
    assert "click" in readable[0] and "user=u0" in readable[0] and "item=i0" in readable[0]
    assert "dead_letter reason=not_json" in readable[5]


def test_watch_refuses_a_topic_that_does_not_exist(broker: BrokerProcess) -> None:
    command = [
        sys.executable,
        "-m",
        "streamrec",
        "watch",
        "no-such-topic",
        "-b",
        broker.bootstrap,
        "--limit",
        "1",
    ]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=120)

    assert finished.returncode != 0
    assert "does not exist" in finished.stderr + finished.stdout
