"""The event-log sink: every topic of the experiment, consumed and written to Parquet files.

Layout
------
One directory per topic, named after the topic, holding immutable Parquet files::

    <out_dir>/<topic>/part-<UTC time of the roll>-<writer id>-<sequence>.parquet
    <out_dir>/events/part-20260201T101500123456Z-3f9c2a1e-000017.parquet

The UTC time (``%Y%m%dT%H%M%S%fZ``) is when the file was rolled, so names sort by time; the
writer id (8 hex digits, new for every sink process) keeps two sinks sharing a directory from
colliding; the sequence counts the files of one writer. A file holds the rows of one topic in
the order they were consumed, from any partition; the ``kafka_partition`` and ``kafka_offset``
columns say where each row came from. Each topic has one explicit Arrow schema
(:data:`ARROW_SCHEMAS`), so files of one topic always agree.

Every file is written as ``<name>.parquet.tmp`` in the same directory, flushed and fsynced,
renamed over ``<name>.parquet`` with :func:`os.replace` and the directory is fsynced. Readers
glob ``*.parquet`` and so never see half a file. A ``*.parquet.tmp`` left by a crash is
garbage (its offsets were never committed, so its rows are consumed again) and is removed
when a sink starts, once older than :data:`STALE_TMP_SECONDS`.

Delivery
--------
At least once. Kafka offsets are committed only after the file holding their rows is durable,
so a crash between the rename and the commit writes those rows again on restart; analysis
removes such duplicates by ``event_id`` (events) and ``request_id`` (slates, requests,
references).

Messages that fail :func:`stream.validation.parse` are never dropped silently. On the topics
the stream worker also reads (events, rec-requests, catalog) the worker publishes their
dead-letter records, so the sink only counts them. On the others (recommendations,
references, and the dead-letter topic itself) the sink publishes the record to the
dead-letter topic, waiting for the broker's acknowledgement before the offset may be
committed.

Client
------
aiokafka, in a consumer group with manual commits. Its groups work on both brokers we run
(the embedded Tansu and Apache Kafka), whereas kafka-python's groups keep re-joining on Tansu.
The alternative, kafka-python with manual assignment and offsets stored beside the files,
would also make the commit and the file one atomic step, but it gives up the group's
partition sharing between several sinks and needs a recovery scan of the directory on start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import pyarrow as pa
import pyarrow.parquet as pq
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from aiokafka.structs import ConsumerRecord

from stream.events import (
    CatalogItem,
    Contract,
    DeadLetter,
    Interaction,
    Recommendation,
    RecRequest,
    Reference,
)
from stream.topics import TOPICS, Topics
from stream.validation import parse

logger = logging.getLogger(__name__)

# NOTE: this module holds two concepts, the Parquet log writer (schemas, atomic files, rolling)
# and the Kafka loop around it, and is about twice the size we aim for. They share one module
# because nothing but the sink and the tests writes the log yet; readers pay for it in length
# only. Split the writer into a module of its own when a second writer appears (a dataset
# replay straight to Parquet, say).

#: Roll a topic's buffer into a file once its messages add up to this many bytes of JSON.
DEFAULT_ROLL_BYTES = 32 * 1024 * 1024

#: Roll a topic's buffer into a file once its oldest row has waited this long.
DEFAULT_ROLL_SECONDS = 60.0

#: Roll a topic's buffer once it holds this many rows, whatever their size.
DEFAULT_ROLL_ROWS = 500_000

#: Temporary files older than this are taken as left by a crashed writer and removed.
STALE_TMP_SECONDS = 600.0

DEFAULT_GROUP_ID = "streamrec-sink"

# Roles: the Topics field each topic fills. The schema of a file follows the role, not the
# topic's name, so tests and deployments may rename topics freely.
CATALOG, REC_REQUESTS, RECOMMENDATIONS, EVENTS, REFERENCES, DEAD_LETTER = (
    "catalog",
    "rec_requests",
    "recommendations",
    "events",
    "references",
    "dead_letter",
)

#: Roles whose dead-letter records the stream worker publishes; the sink only counts them.
WORKER_READ_ROLES = frozenset({CATALOG, REC_REQUESTS, EVENTS})

#: The model each role's messages are read with (``event_type`` dispatch where it is declared).
PARSE_SCHEMAS: dict[str, type[Contract] | dict[str, type[Contract]]] = {
    CATALOG: CatalogItem,
    REC_REQUESTS: {"rec_request": RecRequest},
    RECOMMENDATIONS: {"recommendation": Recommendation},
    EVENTS: {kind: Interaction for kind in ("impression", "click", "add_to_cart", "purchase")},
    REFERENCES: {"reference": Reference},
    DEAD_LETTER: DeadLetter,
}

_UTC_US = pa.timestamp("us", tz="UTC")

#: Where each row came from, appended to every topic's schema.
KAFKA_FIELDS = [
    pa.field("kafka_partition", pa.int32(), nullable=False),
    pa.field("kafka_offset", pa.int64(), nullable=False),
    pa.field("kafka_timestamp", _UTC_US),
]

SLATE_ITEM = pa.struct(
    [
        pa.field("item_id", pa.string()),
        pa.field("position", pa.int32()),
        pa.field("score", pa.float64()),
        pa.field("source", pa.string()),
        pa.field("source_probability", pa.float64()),
    ]
)

#: One Arrow schema per role: the model's fields, flattened, then :data:`KAFKA_FIELDS`.
ARROW_SCHEMAS: dict[str, pa.Schema] = {
    role: pa.schema(columns + KAFKA_FIELDS)
    for role, columns in {
        CATALOG: [
            pa.field("item_id", pa.string()),
            pa.field("title", pa.string()),
            pa.field("category", pa.string()),
            pa.field("brand", pa.string()),
            pa.field("price", pa.float64()),
            pa.field("price_tier", pa.int16()),
            pa.field("stock", pa.int64()),
            pa.field("tags", pa.list_(pa.string())),
            pa.field("updated_at", _UTC_US),
        ],
        REC_REQUESTS: [
            pa.field("event_type", pa.string()),
            pa.field("request_id", pa.string()),
            pa.field("user_id", pa.string()),
            pa.field("session_id", pa.string()),
            pa.field("requested_at", _UTC_US),
            pa.field("k", pa.int32()),
            pa.field("context_item_id", pa.string()),
            pa.field("context_category", pa.string()),
        ],
        RECOMMENDATIONS: [
            pa.field("event_type", pa.string()),
            pa.field("request_id", pa.string()),
            pa.field("user_id", pa.string()),
            pa.field("session_id", pa.string()),
            pa.field("arm", pa.string()),
            pa.field("model_version", pa.string()),
            pa.field("slate", pa.list_(SLATE_ITEM)),
            pa.field("requested_at", _UTC_US),
            pa.field("served_at", _UTC_US),
        ],
        EVENTS: [
            pa.field("event_id", pa.string()),
            pa.field("event_type", pa.string()),
            pa.field("event_at", _UTC_US),
            pa.field("user_id", pa.string()),
            pa.field("item_id", pa.string()),
            pa.field("session_id", pa.string()),
            pa.field("request_id", pa.string()),
            pa.field("arm", pa.string()),
            pa.field("position", pa.int32()),
            pa.field("price", pa.float64()),
            pa.field("quantity", pa.int32()),
        ],
        REFERENCES: [
            pa.field("event_type", pa.string()),
            pa.field("request_id", pa.string()),
            pa.field("user_id", pa.string()),
            pa.field("arm", pa.string()),
            pa.field("served_value", pa.float64()),
            pa.field("random_value", pa.float64()),
            pa.field("oracle_value", pa.float64()),
            pa.field("computed_at", _UTC_US),
        ],
        DEAD_LETTER: [
            pa.field("reason", pa.string()),
            pa.field("detail", pa.string()),
            pa.field("source_topic", pa.string()),
            # Renamed from the model's partition and offset: OFFSET is reserved in SQL, and
            # the prefix keeps them apart from where the dead letter itself was read.
            pa.field("source_partition", pa.int32()),
            pa.field("source_offset", pa.int64()),
            pa.field("key", pa.string()),
            pa.field("payload_b64", pa.string()),
            pa.field("payload_size", pa.int64()),
            pa.field("payload_truncated", pa.bool_()),
            pa.field("received_at", _UTC_US),
        ],
    }.items()
}

# Model fields stored under another column name.
_RENAMES: dict[str, dict[str, str]] = {
    DEAD_LETTER: {"partition": "source_partition", "offset": "source_offset"},
}


def roles_of(topics: Topics) -> dict[str, str]:
    """Map each topic name to its role (the :class:`~stream.topics.Topics` field it fills)."""
    return {getattr(topics, spec.name): spec.name for spec in fields(topics)}


def row_of(
    role: str,
    model: Contract,
    *,
    partition: int,
    offset: int,
    timestamp_ms: int | None = None,
) -> dict[str, object]:
    """Flatten one message into a row of its role's Arrow schema.

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> item = CatalogItem(item_id="i1", category="shoes", brand="b", price=9.5,
    ...                    price_tier=1, stock=3, updated_at=datetime(2026, 1, 1, tzinfo=UTC))
    >>> row = row_of("catalog", item, partition=0, offset=41)
    >>> row["item_id"], row["kafka_offset"]
    ('i1', 41)
    """
    row = model.model_dump()
    for old, new in _RENAMES.get(role, {}).items():
        row[new] = row.pop(old)

    row["kafka_partition"] = partition
    row["kafka_offset"] = offset
    row["kafka_timestamp"] = None if timestamp_ms is None else timestamp_ms * 1000
    return row


def write_parquet_atomic(table: pa.Table, path: Path) -> Path:
    """Write ``table`` to ``path`` so that no reader of ``*.parquet`` ever sees a partial file.

    The steps: write ``<path>.tmp`` in the same directory, flush and fsync it, rename it over
    ``path`` (atomic within one file system), then fsync the directory so the rename itself
    survives a power cut. Returns ``path``.
    """
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        pq.write_table(table, handle, compression="zstd")
        handle.flush()
        os.fsync(handle.fileno())

    os.replace(tmp, path)

    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return path


@dataclass
class _Buffer:
    """Rows of one topic waiting for their file, and the offsets they cover."""

    rows: list[dict[str, object]] = field(default_factory=list)
    n_bytes: int = 0
    started_at: float | None = None
    # Next offset to commit per partition: one past the last message consumed, valid or not.
    next_offsets: dict[int, int] = field(default_factory=dict)

    def is_empty(self) -> bool:
        return not self.rows and not self.next_offsets


@dataclass(frozen=True)
class Flushed:
    """What one roll of a topic's buffer produced: the file (None if no rows) and the offsets."""

    topic: str
    path: Path | None
    n_rows: int
    next_offsets: dict[int, int]


class EventLogWriter:
    """Buffers rows per topic and rolls them into Parquet files by size, row count and age.

    Knows nothing of Kafka beyond the partition and offset of each row, so tests and offline
    tools write event logs with it directly.

    Parameters
    ----------
    out_dir
        Root of the log; each topic gets ``out_dir/<topic>/``.
    topics
        The topic names; each row's schema follows its topic's role.
    roll_bytes, roll_rows, roll_seconds
        A topic's buffer is due for a file once it reaches any of these.

    Attributes
    ----------
    rows_written, files_written
        Per topic, since the writer was made.

    Examples
    --------
    >>> import tempfile
    >>> from datetime import datetime, UTC
    >>> writer = EventLogWriter(tempfile.mkdtemp())
    >>> event = Interaction(event_id="e1", event_type="click", user_id="u1", item_id="i1",
    ...                     session_id="s1", event_at=datetime(2026, 1, 1, tzinfo=UTC))
    >>> writer.add("events", event, partition=0, offset=0)
    >>> writer.flush("events").n_rows
    1
    """

    def __init__(
        self,
        out_dir: str | os.PathLike[str],
        topics: Topics = TOPICS,
        *,
        roll_bytes: int = DEFAULT_ROLL_BYTES,
        roll_rows: int = DEFAULT_ROLL_ROWS,
        roll_seconds: float = DEFAULT_ROLL_SECONDS,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.roles = roles_of(topics)
        self.roll_bytes = roll_bytes
        self.roll_rows = roll_rows
        self.roll_seconds = roll_seconds
        self.writer_id = uuid.uuid4().hex[:8]
        self.rows_written: dict[str, int] = dict.fromkeys(self.roles, 0)
        self.files_written: dict[str, int] = dict.fromkeys(self.roles, 0)
        self._buffers: dict[str, _Buffer] = {topic: _Buffer() for topic in self.roles}
        self._sequence = 0

        for topic in self.roles:
            (self.out_dir / topic).mkdir(parents=True, exist_ok=True)
        self._remove_stale_tmp()

    def add(
        self,
        topic: str,
        model: Contract,
        *,
        partition: int,
        offset: int,
        timestamp_ms: int | None = None,
        n_bytes: int | None = None,
    ) -> None:
        """Buffer one message; ``n_bytes`` is its size on the wire (measured if not given)."""
        row = row_of(
            self.roles[topic], model, partition=partition, offset=offset, timestamp_ms=timestamp_ms
        )
        buffer = self._buffers[topic]
        buffer.rows.append(row)
        buffer.n_bytes += n_bytes if n_bytes is not None else len(model.to_bytes())
        self.skip(topic, partition=partition, offset=offset)

    def skip(self, topic: str, *, partition: int, offset: int) -> None:
        """Count a message that has no row (refused by validation) towards the next commit."""
        buffer = self._buffers[topic]
        if buffer.started_at is None:
            buffer.started_at = time.monotonic()
        buffer.next_offsets[partition] = offset + 1

    def is_full(self, topic: str) -> bool:
        """Whether the topic's buffer has reached the size or row limit."""
        buffer = self._buffers[topic]
        return buffer.n_bytes >= self.roll_bytes or len(buffer.rows) >= self.roll_rows

    def due(self, now: float | None = None) -> list[str]:
        """Topics whose buffers have reached the size, row or age limit."""
        now = time.monotonic() if now is None else now
        return [
            topic
            for topic, buffer in self._buffers.items()
            if not buffer.is_empty()
            and (self.is_full(topic) or now - (buffer.started_at or now) >= self.roll_seconds)
        ]

    def pending(self) -> list[str]:
        """Topics with anything buffered."""
        return [topic for topic, buffer in self._buffers.items() if not buffer.is_empty()]

    def flush(self, topic: str) -> Flushed:
        """Write the topic's buffered rows to one durable file and empty the buffer.

        If the write fails the buffer stays as it was, so that no later flush can commit
        offsets past rows that never reached a file.
        """
        buffer = self._buffers[topic]
        if not buffer.rows:
            self._buffers[topic] = _Buffer()
            return Flushed(topic, None, 0, buffer.next_offsets)

        table = pa.Table.from_pylist(buffer.rows, schema=ARROW_SCHEMAS[self.roles[topic]])
        path = write_parquet_atomic(table, self._next_path(topic))
        self._buffers[topic] = _Buffer()

        self.rows_written[topic] += table.num_rows
        self.files_written[topic] += 1
        logger.info(
            "file_written topic=%s path=%s rows=%d bytes=%d",
            topic,
            path,
            table.num_rows,
            path.stat().st_size,
        )
        return Flushed(topic, path, table.num_rows, buffer.next_offsets)

    def flush_all(self) -> list[Flushed]:
        """Roll every topic that has anything buffered."""
        return [self.flush(topic) for topic in self.pending()]

    def _next_path(self, topic: str) -> Path:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        self._sequence += 1
        name = f"part-{stamp}-{self.writer_id}-{self._sequence:06d}.parquet"
        return self.out_dir / topic / name

    def _remove_stale_tmp(self) -> None:
        """Remove temporary files that a crashed writer left behind."""
        cutoff = time.time() - STALE_TMP_SECONDS
        for topic in self.roles:
            for tmp in (self.out_dir / topic).glob("*.parquet.tmp"):
                if tmp.stat().st_mtime < cutoff:
                    logger.warning("stale_tmp_removed path=%s", tmp)
                    tmp.unlink(missing_ok=True)


class _StopSignal(Protocol):
    def is_set(self) -> bool: ...


@dataclass
class SinkStats:
    """Progress counters of one sink run, per topic."""

    messages: dict[str, int] = field(default_factory=dict)
    rows_written: dict[str, int] = field(default_factory=dict)
    files_written: dict[str, int] = field(default_factory=dict)
    dead_letters_published: dict[str, int] = field(default_factory=dict)
    dead_letters_counted: dict[str, int] = field(default_factory=dict)
    commits: int = 0
    elapsed_s: float = 0.0

    def total_messages(self) -> int:
        return sum(self.messages.values())


class EventLogSink:
    """Consumes every topic of the experiment and writes it to Parquet, committing after each file.

    Parameters
    ----------
    bootstrap
        Broker address, ``host:port``.
    out_dir
        Root of the event log (layout in the module docstring).
    topics
        The topic names; every one of them is consumed.
    roll_bytes, roll_seconds, roll_rows
        A topic's buffer becomes a file once it holds this many bytes of messages, once its
        oldest message has waited this long, or once it holds this many rows.
    group_id
        Consumer group; several sinks in one group share the partitions.

    Attributes
    ----------
    stats
        :class:`SinkStats`, updated as the sink runs.

    Examples
    --------
    Run until no message has arrived for five seconds::

        sink = EventLogSink("127.0.0.1:9092", "log")
        stats = sink.run(idle_seconds=5)
    """

    def __init__(
        self,
        bootstrap: str,
        out_dir: str | os.PathLike[str],
        topics: Topics = TOPICS,
        *,
        roll_bytes: int = DEFAULT_ROLL_BYTES,
        roll_seconds: float = DEFAULT_ROLL_SECONDS,
        roll_rows: int = DEFAULT_ROLL_ROWS,
        group_id: str = DEFAULT_GROUP_ID,
    ) -> None:
        self.bootstrap = bootstrap
        self.topics = topics
        self.group_id = group_id
        self.writer = EventLogWriter(
            out_dir, topics, roll_bytes=roll_bytes, roll_rows=roll_rows, roll_seconds=roll_seconds
        )
        self.stats = SinkStats(
            messages=dict.fromkeys(self.writer.roles, 0),
            # The writer's own counters, so that the stats are current while the sink runs.
            rows_written=self.writer.rows_written,
            files_written=self.writer.files_written,
            dead_letters_published=dict.fromkeys(self.writer.roles, 0),
            dead_letters_counted=dict.fromkeys(self.writer.roles, 0),
        )
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._roll_lock: asyncio.Lock | None = None

    def run(
        self,
        stop_event: _StopSignal | None = None,
        *,
        idle_seconds: float | None = None,
        max_messages: int | None = None,
    ) -> SinkStats:
        """Consume until ``stop_event`` is set, ``idle_seconds`` pass without a message, or
        ``max_messages`` are read; then write every buffer, commit, and return the counters.

        ``stop_event`` is anything with ``is_set()``, such as a :class:`threading.Event` set
        from another thread. It is checked between fetches, at least every 200 ms.
        """
        return asyncio.run(self.run_async(stop_event, idle_seconds, max_messages))

    async def run_async(
        self,
        stop_event: _StopSignal | None = None,
        idle_seconds: float | None = None,
        max_messages: int | None = None,
    ) -> SinkStats:
        """The coroutine behind :meth:`run`, for callers that already run an event loop."""
        started = time.monotonic()
        self._roll_lock = asyncio.Lock()
        await self._start()
        logger.info(
            "sink_started bootstrap=%s group_id=%s out_dir=%s topics=%s",
            self.bootstrap,
            self.group_id,
            self.writer.out_dir,
            ",".join(self.writer.roles),
        )

        try:
            await self._consume(stop_event, idle_seconds, max_messages)
        finally:
            # Also on cancellation (Ctrl-C): nothing consumed stays only in memory.
            try:
                await self._roll(self.writer.pending())
            finally:
                await self._stop()

        self.stats.elapsed_s = time.monotonic() - started
        logger.info(
            "sink_stopped messages=%d rows=%d files=%d elapsed_s=%.1f",
            self.stats.total_messages(),
            sum(self.stats.rows_written.values()),
            sum(self.stats.files_written.values()),
            self.stats.elapsed_s,
        )
        return self.stats

    async def _start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=self.group_id,
            enable_auto_commit=False,
            # A sink that starts late must still write the history, not only what comes next.
            auto_offset_reset="earliest",
            fetch_max_bytes=64 * 1024 * 1024,
            max_partition_fetch_bytes=8 * 1024 * 1024,
        )
        self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        self._consumer.subscribe(list(self.writer.roles), listener=_RollOnRevoke(self))
        await self._producer.start()
        try:
            await self._consumer.start()
        except BaseException:
            await self._producer.stop()
            raise

    async def _stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
        if self._producer is not None:
            await self._producer.stop()

    async def _consume(
        self,
        stop_event: _StopSignal | None,
        idle_seconds: float | None,
        max_messages: int | None,
    ) -> None:
        """Fetch, buffer and roll until one of the stop conditions holds."""
        assert self._consumer is not None
        quiet_since = time.monotonic()
        assigned = False

        while stop_event is None or not stop_event.is_set():
            max_records = 10_000
            if max_messages is not None:
                max_records = max(1, min(max_records, max_messages - self.stats.total_messages()))
            batches = await self._consumer.getmany(timeout_ms=200, max_records=max_records)
            for partition, messages in batches.items():
                await self._take(partition.topic, messages)
            await self._roll(self.writer.due())

            # The idle clock starts once partitions are assigned: joining the group takes time.
            now = time.monotonic()
            if batches or (not assigned and self._consumer.assignment()):
                quiet_since = now
                assigned = True
            if max_messages is not None and self.stats.total_messages() >= max_messages:
                return
            if idle_seconds is not None and now - quiet_since >= idle_seconds:
                return

    async def _take(self, topic: str, messages: Iterable[ConsumerRecord]) -> None:
        """Buffer the valid messages; send or count the refused ones as dead letters."""
        role = self.writer.roles[topic]
        for message in messages:
            self.stats.messages[topic] += 1
            parsed = parse(
                message.value,
                topic=topic,
                partition=message.partition,
                offset=message.offset,
                key=message.key,
                schema=PARSE_SCHEMAS[role],
            )

            if _is_refusal(parsed, role, message):
                await self._dead_letter(role, topic, parsed, message)
                self.writer.skip(topic, partition=message.partition, offset=message.offset)
                continue

            self.writer.add(
                topic,
                parsed,
                partition=message.partition,
                offset=message.offset,
                timestamp_ms=message.timestamp,
                n_bytes=len(message.value or b""),
            )
            # Rolled within the fetched batch, so no file grows past the limits.
            if self.writer.is_full(topic):
                await self._roll([topic])

    async def _dead_letter(
        self, role: str, topic: str, dead_letter: Contract, message: ConsumerRecord
    ) -> None:
        """Publish a refused message's record, unless the stream worker publishes it."""
        assert isinstance(dead_letter, DeadLetter)
        if role in WORKER_READ_ROLES:
            self.stats.dead_letters_counted[topic] += 1
            logger.debug(
                "dead_letter_counted topic=%s partition=%d offset=%d reason=%s",
                topic,
                message.partition,
                message.offset,
                dead_letter.reason,
            )
            return

        # Acknowledged before the offset can be committed, so the record cannot be lost.
        assert self._producer is not None
        await self._producer.send_and_wait(
            self.topics.dead_letter, dead_letter.to_bytes(), key=message.key
        )
        self.stats.dead_letters_published[topic] += 1
        logger.warning(
            "dead_letter_published topic=%s partition=%d offset=%d reason=%s",
            topic,
            message.partition,
            message.offset,
            dead_letter.reason,
        )

    async def _roll(self, topics: list[str]) -> None:
        """Write each topic's buffer to a durable file, then commit the offsets it covers."""
        if not topics:
            return
        assert self._roll_lock is not None
        async with self._roll_lock:
            for topic in topics:
                # Off the event loop, so heartbeats keep flowing while a large file is written.
                flushed = await asyncio.to_thread(self.writer.flush, topic)
                await self._commit(flushed)

    async def _commit(self, flushed: Flushed) -> None:
        """Commit the offsets of a durable file; a failed commit only means duplicates later."""
        assert self._consumer is not None
        assigned = self._consumer.assignment()
        offsets = {
            TopicPartition(flushed.topic, partition): offset
            for partition, offset in flushed.next_offsets.items()
            if TopicPartition(flushed.topic, partition) in assigned
        }
        if len(offsets) < len(flushed.next_offsets):
            logger.warning(
                "offset_commit_skipped topic=%s reason=partition_revoked n_partitions=%d",
                flushed.topic,
                len(flushed.next_offsets) - len(offsets),
            )
        if not offsets:
            return

        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as error:
            # The rows are on disk; whoever owns the partitions now reads them again and the
            # analysis removes the duplicates by id.
            logger.warning("offset_commit_failed topic=%s error=%s", flushed.topic, error)
            return
        self.stats.commits += 1


class _RollOnRevoke(ConsumerRebalanceListener):
    """Writes and commits everything buffered before the group takes partitions away."""

    def __init__(self, sink: EventLogSink) -> None:
        self._sink = sink

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        await self._sink._roll(self._sink.writer.pending())

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        logger.info("partitions_assigned n_partitions=%d", len(list(assigned)))


def _is_refusal(parsed: Contract, role: str, message: ConsumerRecord) -> bool:
    """Whether ``parse`` refused the message rather than read it.

    On the dead-letter topic a valid message is itself a :class:`DeadLetter`. A refusal is the
    record pointing at this very message; a valid record never does, because a record about a
    message is published after it and so lands at a later offset.
    """
    if not isinstance(parsed, DeadLetter):
        return False
    if role != DEAD_LETTER:
        return True
    return (parsed.source_topic, parsed.partition, parsed.offset) == (
        message.topic,
        message.partition,
        message.offset,
    )


class _SignalStop:
    """Stop signal set by a caller's event or, in the main thread, by SIGINT and SIGTERM."""

    def __init__(self, stop_event: _StopSignal | None) -> None:
        self._stop_event = stop_event
        self._signalled = threading.Event()

    def is_set(self) -> bool:
        return self._signalled.is_set() or (
            self._stop_event is not None and self._stop_event.is_set()
        )

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Route SIGINT and SIGTERM to this signal while the block runs (main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handle(signum: int, frame: object) -> None:
            logger.info("sink_stopping signal=%s", signal.Signals(signum).name)
            self._signalled.set()

        previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def run_sink(
    bootstrap: str,
    out_dir: str | os.PathLike[str],
    *,
    topics: Topics = TOPICS,
    group_id: str = DEFAULT_GROUP_ID,
    roll_bytes: int = DEFAULT_ROLL_BYTES,
    roll_seconds: float = DEFAULT_ROLL_SECONDS,
    roll_rows: int = DEFAULT_ROLL_ROWS,
    idle_seconds: float | None = None,
    max_messages: int | None = None,
    stop_event: _StopSignal | None = None,
) -> SinkStats:
    """Run an :class:`EventLogSink` to completion; the entry point of ``streamrec sink``.

    Runs until ``stop_event`` is set, ``idle_seconds`` pass without a message, ``max_messages``
    are read or, from the main thread, SIGINT or SIGTERM arrives; every case ends with all
    buffers written and committed.
    """
    sink = EventLogSink(
        bootstrap,
        out_dir,
        topics,
        roll_bytes=roll_bytes,
        roll_seconds=roll_seconds,
        roll_rows=roll_rows,
        group_id=group_id,
    )
    stop = _SignalStop(stop_event)
    with stop.installed():
        return sink.run(stop, idle_seconds=idle_seconds, max_messages=max_messages)
