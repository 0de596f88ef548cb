"""Local Kafka-compatible brokers for development and tests: Tansu and Apache Kafka."""

from stream.brokers.kafka import ApacheKafkaBroker
from stream.brokers.process import BrokerProcess, BrokerStartError
from stream.brokers.tansu import TansuBroker

__all__ = ["ApacheKafkaBroker", "BrokerProcess", "BrokerStartError", "TansuBroker"]
