"""Broker launcher logic that needs no running broker."""

from __future__ import annotations

import base64
import socket

import pytest

from stream.brokers import BrokerStartError, TansuBroker
from stream.brokers.kafka import _cluster_id


def test_cluster_ids_are_16_byte_ids_that_never_look_like_an_option() -> None:
    ids = [_cluster_id() for _ in range(2_000)]

    assert not any(cluster_id.startswith("-") for cluster_id in ids)
    assert all(len(base64.urlsafe_b64decode(cluster_id + "==")) == 16 for cluster_id in ids)
    assert len(set(ids)) == len(ids)


def test_a_broker_refuses_a_port_that_is_taken_or_impossible() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        with pytest.raises(BrokerStartError, match="already in use"):
            TansuBroker(port=port).start()
    with pytest.raises(BrokerStartError, match="not a TCP port"):
        TansuBroker(port=70_000).start()
