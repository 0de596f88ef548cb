"""The sink's Parquet side, no broker: schemas that fit the contract, atomic files, rolling."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stream import sink
from stream.events import (
    CatalogItem,
    Contract,
    DeadLetter,
    Interaction,
    Recommendation,
    RecRequest,
    Reference,
    SlateItem,
)
from stream.sink import ARROW_SCHEMAS, EventLogWriter, row_of, write_parquet_atomic
from stream.topics import TOPICS, Topics
from stream.validation import parse

AT = datetime(2026, 2, 1, 10, 0, 0, 123456, tzinfo=UTC)

#: One fully populated model of every kind, with the role (Topics field) its topic fills.
EXAMPLES: dict[str, Contract] = {
    "catalog": CatalogItem(
        item_id="i1",
        title="Boot",
        category="shoes",
        brand="acme",
        price=89.5,
        price_tier=2,
        stock=4,
        tags=["leather", "brown"],
        updated_at=AT,
    ),
    "rec_requests": RecRequest(
        request_id="r1",
        user_id="u1",
        session_id="s1",
        requested_at=AT,
        k=3,
        context_item_id="i1",
        context_category="shoes",
    ),
    "recommendations": Recommendation(
        request_id="r1",
        user_id="u1",
        session_id="s1",
        arm="E",
        model_version="hybrid-7",
        slate=[
            SlateItem(item_id="i2", position=0, score=0.9, source="cooccurrence"),
            SlateItem(
                item_id="i3", position=1, score=0.4, source="popularity", source_probability=0.25
            ),
        ],
        requested_at=AT,
        served_at=AT,
    ),
    "events": Interaction(
        event_id="e1",
        event_type="purchase",
        event_at=AT,
        user_id="u1",
        item_id="i2",
        session_id="s1",
        request_id="r1",
        arm="E",
        position=0,
        price=12.5,
        quantity=2,
    ),
    "references": Reference(
        request_id="r1",
        user_id="u1",
        arm="E",
        served_value=0.3,
        random_value=0.1,
        oracle_value=0.5,
        computed_at=AT,
    ),
    "dead_letter": parse(b"{not json", topic="events", partition=3, offset=17, key=b"u1"),
}


def test_every_role_has_an_example_and_a_schema() -> None:
    roles = set(sink.roles_of(TOPICS).values())
    assert roles == set(EXAMPLES) == set(ARROW_SCHEMAS)
    assert isinstance(EXAMPLES["dead_letter"], DeadLetter)


@pytest.mark.parametrize("role", sorted(EXAMPLES))
def test_schema_accepts_model_dump_and_keeps_every_value(role: str) -> None:
    model = EXAMPLES[role]
    row = row_of(role, model, partition=5, offset=99, timestamp_ms=1_700_000_000_123)

    table = pa.Table.from_pylist([row], schema=ARROW_SCHEMAS[role])
    back = table.to_pylist()[0]

    # Every field of the model is a column, under its own name or the documented rename.
    dumped = model.model_dump()
    renames = {"partition": "source_partition", "offset": "source_offset"}
    for name, value in dumped.items():
        assert back[renames.get(name, name)] == value, name
    assert (back["kafka_partition"], back["kafka_offset"]) == (5, 99)
    assert back["kafka_timestamp"] == datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)


def test_schema_accepts_a_model_with_its_optional_fields_left_out() -> None:
    organic = Interaction(
        event_id="e2", event_type="click", event_at=AT, user_id="u1", item_id="i9", session_id="s"
    )
    row = row_of("events", organic, partition=0, offset=0)

    back = pa.Table.from_pylist([row], schema=ARROW_SCHEMAS["events"]).to_pylist()[0]

    assert back["request_id"] is None and back["arm"] is None and back["price"] is None
    assert back["kafka_timestamp"] is None


def test_timestamps_are_utc_microseconds() -> None:
    for schema in ARROW_SCHEMAS.values():
        for column in schema:
            if pa.types.is_timestamp(column.type):
                assert (column.type.unit, column.type.tz) == ("us", "UTC"), column.name


def test_atomic_write_leaves_only_the_finished_file(tmp_path: Path) -> None:
    table = pa.table({"x": [1, 2, 3]})
    path = tmp_path / "part-1.parquet"

    write_parquet_atomic(table, path)

    assert [entry.name for entry in tmp_path.iterdir()] == ["part-1.parquet"]
    assert pq.read_table(path).equals(table)


def test_atomic_write_shows_nothing_under_the_final_name_until_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Stop the write between fsync and rename, as a crash would: the reader's glob is empty.
    def crash(src: str, dst: str) -> None:
        raise OSError("crashed before rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="before rename"):
        write_parquet_atomic(pa.table({"x": [1]}), tmp_path / "part-1.parquet")

    assert list(tmp_path.glob("*.parquet")) == []
    assert [entry.name for entry in tmp_path.iterdir()] == ["part-1.parquet.tmp"]


def test_writer_leaves_no_tmp_files_and_names_files_by_time_writer_and_sequence(
    tmp_path: Path,
) -> None:
    writer = EventLogWriter(tmp_path)
    for offset in range(3):
        writer.add("references", EXAMPLES["references"], partition=0, offset=offset)

    flushed = writer.flush("references")

    assert flushed.n_rows == 3 and flushed.next_offsets == {0: 3}
    assert list(tmp_path.rglob("*.tmp")) == []
    assert flushed.path is not None and flushed.path.parent == tmp_path / "references"
    _, stamp, writer_id, sequence = flushed.path.stem.split("-")
    assert stamp.endswith("Z") and writer_id == writer.writer_id and sequence == "000001"


def test_writer_rolls_by_size(tmp_path: Path) -> None:
    event = EXAMPLES["events"]
    size = len(event.to_bytes())
    writer = EventLogWriter(tmp_path, roll_bytes=10 * size, roll_seconds=3600)

    for offset in range(9):
        writer.add("events", event, partition=1, offset=offset)
    assert writer.due() == []

    writer.add("events", event, partition=1, offset=9)
    assert writer.due() == ["events"]

    writer.flush("events")
    assert writer.due() == [] and writer.pending() == []
    assert writer.rows_written["events"] == 10 and writer.files_written["events"] == 1


def test_writer_rolls_by_row_count_and_by_age(tmp_path: Path) -> None:
    writer = EventLogWriter(tmp_path, roll_rows=2, roll_seconds=30)
    writer.add("catalog", EXAMPLES["catalog"], partition=0, offset=0)
    writer.add("references", EXAMPLES["references"], partition=0, offset=0)
    writer.add("references", EXAMPLES["references"], partition=0, offset=1)
    assert writer.due() == ["references"]

    much_later = writer._buffers["catalog"].started_at + 31
    assert set(writer.due(now=much_later)) == {"catalog", "references"}


def test_a_failed_write_keeps_the_buffer_for_the_next_roll(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Were the rows dropped, a later roll would commit offsets past them and lose them.
    writer = EventLogWriter(tmp_path)
    writer.add("events", EXAMPLES["events"], partition=0, offset=7)

    def disk_full(table: pa.Table, path: Path) -> Path:
        raise OSError("no space left on device")

    monkeypatch.setattr(sink, "write_parquet_atomic", disk_full)
    with pytest.raises(OSError, match="no space"):
        writer.flush("events")
    monkeypatch.undo()

    flushed = writer.flush("events")
    assert flushed.n_rows == 1 and flushed.next_offsets == {0: 8}


def test_refused_messages_advance_the_offsets_without_a_file(tmp_path: Path) -> None:
    writer = EventLogWriter(tmp_path)
    writer.skip("recommendations", partition=2, offset=40)

    flushed = writer.flush("recommendations")

    assert flushed.path is None and flushed.next_offsets == {2: 41}
    assert list((tmp_path / "recommendations").iterdir()) == []


def test_writer_follows_renamed_topics(tmp_path: Path) -> None:
    topics = Topics(events="t-events", dead_letter="t-dead")
    writer = EventLogWriter(tmp_path, topics)

    writer.add("t-events", EXAMPLES["events"], partition=0, offset=0)
    path = writer.flush("t-events").path

    assert path is not None and path.parent.name == "t-events"
    assert pq.read_schema(path).remove_metadata().equals(ARROW_SCHEMAS["events"])


def test_stale_tmp_files_are_removed_when_a_writer_starts(tmp_path: Path) -> None:
    (tmp_path / "events").mkdir()
    stale = tmp_path / "events" / "part-old.parquet.tmp"
    fresh = tmp_path / "events" / "part-new.parquet.tmp"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"half")
    old = os.path.getmtime(stale) - sink.STALE_TMP_SECONDS - 1
    os.utime(stale, (old, old))

    EventLogWriter(tmp_path)

    assert not stale.exists() and fresh.exists()
