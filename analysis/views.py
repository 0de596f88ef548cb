"""DuckDB views over the Parquet event log: one per topic, deduplicated, plus slates and user arms.

The sink writes each topic to ``<log_dir>/<topic>/*.parquet`` (see :mod:`stream.sink`) and
delivers at least once, so a message can appear twice. Every view here removes those
duplicates by the message's own id:

``events``
    Interactions, one row per ``event_id``, with ``revenue`` (price times quantity for a
    purchase, else 0) added.
``recommendations``
    Served slates, one row per ``request_id``; ``slate`` is a list of structs.
``slate_items``
    One row per place in a served slate: the request's ``request_id``, ``user_id``, ``arm``,
    ``served_at``, then the slate item's ``item_id``, ``position``, ``score``, ``source``,
    ``source_probability``.
``rec_requests``, ``"references"``
    One row per ``request_id``. ``references`` is a reserved word in SQL: quote it.
``catalog``
    The latest record of each ``item_id``.
``dead_letters``
    Refused messages, one row per source message (topic, partition, offset).
``user_arm``
    ``(user_id, arm)``: the arm each user was served in, from the slates and from the events
    that carry an arm. A user listed under two arms points at broken assignment.

The raw files are also visible, duplicates and all, as ``raw_<topic role>`` (``raw_events``,
``raw_recommendations``, ...).

A topic without files yet gets an empty view with the right columns, so queries over a young
log run instead of failing. Such a view is fixed when :func:`connect` runs; connect again to
see files written later. Views over existing files read the directory afresh at every query.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import duckdb

from stream.topics import TOPICS, Topics

logger = logging.getLogger(__name__)

_UTC = "TIMESTAMP WITH TIME ZONE"
_SLATE_ITEM = (
    "STRUCT(item_id VARCHAR, position INTEGER, score DOUBLE, source VARCHAR, "
    "source_probability DOUBLE)"
)
_KAFKA = [("kafka_partition", "INTEGER"), ("kafka_offset", "BIGINT"), ("kafka_timestamp", _UTC)]

#: Columns of each topic's files, by topic role (the :class:`~stream.topics.Topics` field).
#: They mirror the sink's Arrow schemas and only serve to type the empty view of a topic that
#: has no files yet; a test checks that the two agree.
LOG_COLUMNS: dict[str, list[tuple[str, str]]] = {
    "catalog": [
        ("item_id", "VARCHAR"),
        ("title", "VARCHAR"),
        ("category", "VARCHAR"),
        ("brand", "VARCHAR"),
        ("price", "DOUBLE"),
        ("price_tier", "SMALLINT"),
        ("stock", "BIGINT"),
        ("tags", "VARCHAR[]"),
        ("updated_at", _UTC),
        *_KAFKA,
    ],
    "rec_requests": [
        ("event_type", "VARCHAR"),
        ("request_id", "VARCHAR"),
        ("user_id", "VARCHAR"),
        ("session_id", "VARCHAR"),
        ("requested_at", _UTC),
        ("k", "INTEGER"),
        ("context_item_id", "VARCHAR"),
        ("context_category", "VARCHAR"),
        *_KAFKA,
    ],
    "recommendations": [
        ("event_type", "VARCHAR"),
        ("request_id", "VARCHAR"),
        ("user_id", "VARCHAR"),
        ("session_id", "VARCHAR"),
        ("arm", "VARCHAR"),
        ("model_version", "VARCHAR"),
        ("slate", f"{_SLATE_ITEM}[]"),
        ("requested_at", _UTC),
        ("served_at", _UTC),
        *_KAFKA,
    ],
    "events": [
        ("event_id", "VARCHAR"),
        ("event_type", "VARCHAR"),
        ("event_at", _UTC),
        ("user_id", "VARCHAR"),
        ("item_id", "VARCHAR"),
        ("session_id", "VARCHAR"),
        ("request_id", "VARCHAR"),
        ("arm", "VARCHAR"),
        ("position", "INTEGER"),
        ("price", "DOUBLE"),
        ("quantity", "INTEGER"),
        *_KAFKA,
    ],
    "references": [
        ("event_type", "VARCHAR"),
        ("request_id", "VARCHAR"),
        ("user_id", "VARCHAR"),
        ("arm", "VARCHAR"),
        ("served_value", "DOUBLE"),
        ("random_value", "DOUBLE"),
        ("oracle_value", "DOUBLE"),
        ("computed_at", _UTC),
        *_KAFKA,
    ],
    "dead_letter": [
        ("reason", "VARCHAR"),
        ("detail", "VARCHAR"),
        ("source_topic", "VARCHAR"),
        ("source_partition", "INTEGER"),
        ("source_offset", "BIGINT"),
        ("key", "VARCHAR"),
        ("payload_b64", "VARCHAR"),
        ("payload_size", "BIGINT"),
        ("payload_truncated", "BOOLEAN"),
        ("received_at", _UTC),
        *_KAFKA,
    ],
}

# The deduplicated views, in creation order (user_arm reads two of the others).
_VIEWS: dict[str, str] = {
    "events": """
        SELECT *, CASE WHEN event_type = 'purchase' THEN price * quantity ELSE 0.0 END AS revenue
        FROM raw_events
        QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY kafka_partition, kafka_offset) = 1
    """,
    "recommendations": """
        SELECT * FROM raw_recommendations
        QUALIFY row_number() OVER (
            PARTITION BY request_id ORDER BY kafka_partition, kafka_offset) = 1
    """,
    "slate_items": """
        SELECT r.request_id, r.user_id, r.arm, r.served_at,
               s.item.item_id, s.item.position, s.item.score, s.item.source,
               s.item.source_probability
        FROM recommendations AS r, unnest(r.slate) AS s(item)
    """,
    "rec_requests": """
        SELECT * FROM raw_rec_requests
        QUALIFY row_number() OVER (
            PARTITION BY request_id ORDER BY kafka_partition, kafka_offset) = 1
    """,
    '"references"': """
        SELECT * FROM raw_references
        QUALIFY row_number() OVER (
            PARTITION BY request_id ORDER BY kafka_partition, kafka_offset) = 1
    """,
    "catalog": """
        SELECT * FROM raw_catalog
        QUALIFY row_number() OVER (
            PARTITION BY item_id ORDER BY updated_at DESC, kafka_partition, kafka_offset DESC) = 1
    """,
    # A dead letter without source coordinates is only a duplicate of itself (the same
    # dead-letter message written twice by the sink).
    "dead_letters": """
        SELECT * FROM raw_dead_letter
        QUALIFY row_number() OVER (
            PARTITION BY source_topic, source_partition, source_offset,
                CASE WHEN source_offset IS NULL THEN kafka_partition END,
                CASE WHEN source_offset IS NULL THEN kafka_offset END
            ORDER BY kafka_partition, kafka_offset) = 1
    """,
    "user_arm": """
        SELECT DISTINCT user_id, arm FROM (
            SELECT user_id, arm FROM recommendations
            UNION ALL
            SELECT user_id, arm FROM events WHERE arm IS NOT NULL
        )
    """,
}


def connect(
    log_dir: str | os.PathLike[str],
    topics: Topics = TOPICS,
    *,
    database: str = ":memory:",
) -> duckdb.DuckDBPyConnection:
    """Open DuckDB with the event-log views over ``log_dir`` (listed in the module docstring).

    Parameters
    ----------
    log_dir
        The sink's output directory.
    topics
        Topic names, which are the directory names; the roles decide the columns.
    database
        Where DuckDB keeps its own state; in memory by default, the views are cheap to remake.

    Examples
    --------
    >>> import tempfile
    >>> con = connect(tempfile.mkdtemp())
    >>> con.execute("SELECT count(*) FROM events").fetchone()
    (0,)
    """
    log_dir = Path(log_dir)
    con = duckdb.connect(database)

    for role, columns in LOG_COLUMNS.items():
        topic_dir = log_dir / getattr(topics, role)
        con.execute(f"CREATE OR REPLACE VIEW raw_{role} AS {_source(topic_dir, columns)}")

    for name, query in _VIEWS.items():
        con.execute(f"CREATE OR REPLACE VIEW {name} AS {query}")
    return con


def _source(topic_dir: Path, columns: list[tuple[str, str]]) -> str:
    """SQL reading a topic's files, or an empty relation of its columns when there are none."""
    if any(topic_dir.glob("*.parquet")):
        pattern = _quote(str(topic_dir / "*.parquet"))
        return f"SELECT * FROM read_parquet({pattern}, union_by_name = true)"

    logger.debug("empty_view topic_dir=%s", topic_dir)
    typed_nulls = ", ".join(f"CAST(NULL AS {kind}) AS {name}" for name, kind in columns)
    return f"SELECT {typed_nulls} WHERE false"


def _quote(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"
