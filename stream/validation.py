"""Turns raw Kafka message bytes into a contract model, or into a dead-letter record saying why not.

Every consumer of the system reads through :func:`parse`, so a malformed message never crashes a
worker and is never dropped silently: it becomes a :class:`~stream.events.DeadLetter` that the
caller publishes to the dead-letter topic.

The reason codes, in the order they are checked:

``oversize_payload``
    More than ``max_payload_bytes`` (64 KiB by default); the bytes are not parsed at all.
``not_json``
    Not UTF-8, or not JSON.
``not_an_object``
    JSON, but an array, a string, a number or null.
``unknown_event_type``
    ``event_type`` is missing on a topic that mixes kinds, or names a kind the topic does not
    carry (a ``rec_request`` on the events topic, say).
``unknown_field``
    A field the schema does not have (see :mod:`stream.events` for why they are refused).
``missing_field``
    A required field is absent, including a purchase without price or quantity.
``empty_id``
    An identifier that is empty or only white space.
``invalid_price``
    Negative, NaN or infinite.
``invalid_quantity``
    Zero or negative.
``implausible_timestamp``
    Before 1990 or more than a year past the wall clock.
``wrong_type``
    A value of the wrong type (a number where an id string belongs, text where a number does).
``invalid_value``
    Anything else the schema refuses, such as a position below zero or a NaN score.
``unprocessable``
    Valid by the schema, yet its consumer failed on it (:func:`unprocessable`); the detail
    names the error. It marks a bug to fix, not bad input, but the message is kept all the same.

Numbers sent as numeric strings (``"12.5"``) are accepted, as pydantic's lax mode does; an id
sent as a number is refused, because ``7`` and ``"007"`` would otherwise name the same user,
and so is ``true`` or ``false`` where a number belongs. An empty message (a null value, as in
a tombstone) is ``not_json``; ids with control characters are ``invalid_value``.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime

from pydantic import ValidationError

from stream.events import (
    EVENT_TYPES,
    CatalogItem,
    Contract,
    DeadLetter,
    DeadLetterReason,
    Interaction,
    Recommendation,
    RecRequest,
    Reference,
)
from stream.topics import TOPICS

logger = logging.getLogger(__name__)

#: Messages larger than this are refused unread.
MAX_PAYLOAD_BYTES = 64 * 1024

#: How much of a refused payload the dead-letter record keeps, before base64.
DEAD_LETTER_PAYLOAD_BYTES = 16 * 1024

#: The schema of each topic's messages. A topic that carries several kinds maps each
#: ``event_type`` to its schema; a topic of one kind maps to the schema itself.
TOPIC_SCHEMAS: dict[str, type[Contract] | Mapping[str, type[Contract]]] = {
    TOPICS.catalog: CatalogItem,
    TOPICS.rec_requests: {"rec_request": RecRequest},
    TOPICS.recommendations: {"recommendation": Recommendation},
    TOPICS.events: dict.fromkeys(EVENT_TYPES, Interaction),
    TOPICS.references: {"reference": Reference},
}

# pydantic error types that map straight onto a reason, whatever the field.
_ERROR_REASONS: dict[str, DeadLetterReason] = {
    "missing": "missing_field",
    "extra_forbidden": "unknown_field",
    "implausible_timestamp": "implausible_timestamp",
    "invalid_price": "invalid_price",
    "missing_field": "missing_field",
    "invalid_value": "invalid_value",
    "wrong_type": "wrong_type",
}

_TYPE_ERRORS = {
    "string_type",
    "int_type",
    "int_parsing",
    "int_from_float",
    "float_type",
    "float_parsing",
    "bool_type",
    "bool_parsing",
    "list_type",
    "datetime_type",
    "datetime_parsing",
    "datetime_from_date_parsing",
    "model_type",
    "dict_type",
}


def parse(
    raw: bytes | None,
    *,
    topic: str,
    partition: int | None = None,
    offset: int | None = None,
    key: bytes | str | None = None,
    schema: type[Contract] | Mapping[str, type[Contract]] | None = None,
    max_payload_bytes: int = MAX_PAYLOAD_BYTES,
) -> Contract | DeadLetter:
    """Read one message of ``topic`` into its contract model, or explain why it cannot be read.

    Parameters
    ----------
    raw
        The message value as received.
    topic, partition, offset, key
        Where the message came from; copied into the dead-letter record.
    schema
        The model (or ``event_type`` to model map) to read with; by default the topic's entry
        in :data:`TOPIC_SCHEMAS`, so that renamed test topics can name the schema explicitly.
    max_payload_bytes
        Larger messages are refused unread.

    Returns
    -------
    The contract model, or a :class:`DeadLetter` for the caller to publish.

    Examples
    --------
    >>> parse(b'{"user_id": 3}', topic="events").reason
    'unknown_event_type'
    >>> parse(b'[1, 2]', topic="events").reason
    'not_an_object'
    """
    if schema is None:
        schema = TOPIC_SCHEMAS[topic]
    where = {"source_topic": topic, "partition": partition, "offset": offset, "key": key}
    raw = raw if raw is not None else b""

    if not raw:
        # A null value is how Kafka marks a deleted key (a tombstone); nothing here sends one.
        return _dead_letter("not_json", "empty message (a null value or tombstone)", raw, **where)
    if len(raw) > max_payload_bytes:
        detail = f"payload of {len(raw)} bytes exceeds the limit of {max_payload_bytes}"
        return _dead_letter("oversize_payload", detail, raw, **where)

    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        return _dead_letter("not_json", str(error), raw, **where)
    except RecursionError:
        # A few kilobytes of nested brackets exhaust the parser's recursion limit.
        return _dead_letter("not_json", "JSON nested too deeply to read", raw, **where)
    if not isinstance(document, dict):
        detail = f"expected a JSON object, got {type(document).__name__}"
        return _dead_letter("not_an_object", detail, raw, **where)

    model = _model_for(document, schema)
    if model is None:
        detail = f"event_type {document.get('event_type')!r} is not carried on topic {topic!r}"
        return _dead_letter("unknown_event_type", detail, raw, **where)

    try:
        return model.model_validate(document)
    except ValidationError as error:
        reason, detail = _explain(error)
        return _dead_letter(reason, detail, raw, **where)


def unprocessable(
    raw: bytes | None,
    error: Exception,
    *,
    topic: str,
    partition: int | None = None,
    offset: int | None = None,
    key: bytes | str | None = None,
) -> DeadLetter:
    """The dead-letter record of a valid message its consumer could not process."""
    detail = f"{type(error).__name__}: {error}"
    where = {"source_topic": topic, "partition": partition, "offset": offset, "key": key}
    return _dead_letter("unprocessable", detail, raw or b"", **where)


def _model_for(
    document: dict, schema: type[Contract] | Mapping[str, type[Contract]]
) -> type[Contract] | None:
    """The model that reads ``document``: by its ``event_type`` where the topic mixes kinds."""
    if isinstance(schema, Mapping):
        event_type = document.get("event_type")
        return schema.get(event_type) if isinstance(event_type, str) else None
    return schema


def _explain(error: ValidationError) -> tuple[DeadLetterReason, str]:
    """The reason code of the first problem, and a detail listing every problem."""
    problems = error.errors(include_url=False, include_input=False)
    detail = "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or '<message>'}: {problem['msg']}"
        for problem in problems
    )
    return _reason(problems[0]), detail


def _reason(problem: Mapping) -> DeadLetterReason:
    """Map one pydantic error onto a dead-letter reason code."""
    kind = problem["type"]
    field = str(problem["loc"][-1]) if problem["loc"] else ""

    if kind in _ERROR_REASONS:
        return _ERROR_REASONS[kind]
    if field.endswith("_id") and kind == "string_too_short":
        return "empty_id"
    if kind in _TYPE_ERRORS:
        return "wrong_type"
    if field == "price":
        return "invalid_price"
    if field == "quantity":
        return "invalid_quantity"
    return "invalid_value"


def _dead_letter(
    reason: DeadLetterReason,
    detail: str,
    raw: bytes,
    *,
    source_topic: str,
    partition: int | None,
    offset: int | None,
    key: bytes | str | None,
) -> DeadLetter:
    """Build the dead-letter record, keeping at most the first 16 KiB of the payload."""
    if isinstance(key, bytes):
        key = key.decode("utf-8", errors="replace")
    kept = raw[:DEAD_LETTER_PAYLOAD_BYTES]

    logger.debug(
        "message_refused reason=%s topic=%s partition=%s offset=%s",
        reason,
        source_topic,
        partition,
        offset,
    )
    return DeadLetter(
        reason=reason,
        detail=detail[:2000],
        source_topic=source_topic,
        partition=partition,
        offset=offset,
        key=key,
        payload_b64=base64.b64encode(kept).decode("ascii"),
        payload_size=len(raw),
        payload_truncated=len(kept) < len(raw),
        received_at=datetime.now(UTC),
    )
