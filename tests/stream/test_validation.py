"""Every kind of malformed message gets its documented dead-letter reason; valid ones pass whole."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from stream.events import DeadLetter, Interaction, RecRequest
from stream.validation import (
    DEAD_LETTER_PAYLOAD_BYTES,
    MAX_PAYLOAD_BYTES,
    parse,
    unprocessable,
)

CLICK = {
    "event_id": "e-1",
    "event_type": "click",
    "event_at": "2026-02-01T10:00:00Z",
    "user_id": "u00001",
    "item_id": "i0001",
    "session_id": "s-1",
    "request_id": "r-1",
    "arm": "B",
    "position": 2,
}
PURCHASE = {**CLICK, "event_id": "e-2", "event_type": "purchase", "price": 1250.0, "quantity": 1}


def _encode(document: object) -> bytes:
    return json.dumps(document).encode()


def _with(base: dict, **changes: object) -> bytes:
    document = {**base, **changes}
    return _encode({key: value for key, value in document.items() if value is not ...})


def test_a_valid_click_and_purchase_read_back_unchanged() -> None:
    click = parse(_encode(CLICK), topic="events")
    purchase = parse(_encode(PURCHASE), topic="events")

    assert isinstance(click, Interaction)
    assert json.loads(click.to_bytes()) == CLICK
    assert isinstance(purchase, Interaction)
    assert purchase.revenue == 1250.0


# Each case: the raw message, and the reason it must be refused with.
MALFORMED = {
    "not_json": (b"{not json", "not_json"),
    "not_utf8": (b"\xff\xfe\x00", "not_json"),
    "array": (b"[1, 2, 3]", "not_an_object"),
    "string": (b'"click"', "not_an_object"),
    "null": (b"null", "not_an_object"),
    "unknown_event_type": (_with(CLICK, event_type="wishlist"), "unknown_event_type"),
    "no_event_type": (_with(CLICK, event_type=...), "unknown_event_type"),
    "request_on_events_topic": (_with(CLICK, event_type="rec_request"), "unknown_event_type"),
    "missing_user": (_with(CLICK, user_id=...), "missing_field"),
    "purchase_without_price": (_with(PURCHASE, price=...), "missing_field"),
    "purchase_without_quantity": (_with(PURCHASE, quantity=...), "missing_field"),
    "user_id_is_a_number": (_with(CLICK, user_id=17), "wrong_type"),
    "position_is_text": (_with(CLICK, position="second"), "wrong_type"),
    "event_at_is_text": (_with(CLICK, event_at="yesterday"), "wrong_type"),
    "empty_user_id": (_with(CLICK, user_id=""), "empty_id"),
    "blank_item_id": (_with(CLICK, item_id="   "), "empty_id"),
    "negative_price": (_with(PURCHASE, price=-3.0), "invalid_price"),
    "nan_price": (_with(PURCHASE, price=float("nan")), "invalid_price"),
    "infinite_price": (_with(PURCHASE, price=float("inf")), "invalid_price"),
    "zero_quantity": (_with(PURCHASE, quantity=0), "invalid_quantity"),
    "negative_quantity": (_with(PURCHASE, quantity=-2), "invalid_quantity"),
    "year_1970": (_with(CLICK, event_at="1970-01-01T00:00:00Z"), "implausible_timestamp"),
    "year_2300": (_with(CLICK, event_at="2300-01-01T00:00:00Z"), "implausible_timestamp"),
    "unknown_field": (_with(CLICK, prize=10), "unknown_field"),
    "negative_position": (_with(CLICK, position=-1), "invalid_value"),
    "oversize": (_with(CLICK, session_id="s" * MAX_PAYLOAD_BYTES), "oversize_payload"),
    "deeply_nested": (b"[" * 5_000 + b"]" * 5_000, "not_json"),
    "empty": (b"", "not_json"),
    "price_is_true": (_with(PURCHASE, price=True), "wrong_type"),
    "quantity_is_true": (_with(PURCHASE, quantity=True), "wrong_type"),
    "nul_in_user_id": (_with(CLICK, user_id="u\u00001"), "invalid_value"),
    "huge_quantity": (_with(PURCHASE, quantity=10**20), "invalid_quantity"),
    "huge_position": (_with(CLICK, position=2**40), "invalid_value"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_each_malformed_message_gets_its_reason(case: str) -> None:
    raw, reason = MALFORMED[case]

    refused = parse(raw, topic="events", partition=3, offset=41, key=b"u00001")

    assert isinstance(refused, DeadLetter), f"{case} was accepted"
    assert refused.reason == reason, refused.detail
    assert (refused.source_topic, refused.partition, refused.offset) == ("events", 3, 41)
    assert refused.key == "u00001"
    assert refused.payload_size == len(raw)


def test_the_dead_letter_keeps_the_payload_and_caps_its_size() -> None:
    small = parse(b"{oops", topic="events")
    large = parse(b"x" * (MAX_PAYLOAD_BYTES + 1), topic="events")

    assert base64.b64decode(small.payload_b64) == b"{oops"
    assert not small.payload_truncated
    assert len(base64.b64decode(large.payload_b64)) == DEAD_LETTER_PAYLOAD_BYTES
    assert large.payload_truncated


def test_the_detail_names_every_failing_field() -> None:
    refused = parse(_with(PURCHASE, price=-1.0, quantity=0), topic="events")

    assert "price" in refused.detail and "quantity" in refused.detail


def test_timestamps_near_the_edges_are_accepted() -> None:
    soon = (datetime.now(UTC) + timedelta(days=300)).isoformat()
    naive = "2011-05-01T08:00:00"

    assert isinstance(parse(_with(CLICK, event_at=soon), topic="events"), Interaction)
    read = parse(_with(CLICK, event_at=naive), topic="events")
    assert read.event_at.tzinfo is not None


def test_a_rec_request_is_read_on_its_own_topic() -> None:
    request = {
        "event_type": "rec_request",
        "request_id": "r-9",
        "user_id": "u00009",
        "session_id": "s-9",
        "requested_at": "2026-02-01T10:00:00Z",
    }

    parsed = parse(_encode(request), topic="rec-requests")

    assert isinstance(parsed, RecRequest)
    assert parsed.k == 10


def test_non_finite_scores_and_reference_values_are_refused() -> None:
    reference = {
        "event_type": "reference",
        "request_id": "r-1",
        "user_id": "u1",
        "arm": "A",
        "served_value": float("nan"),
        "random_value": 0.1,
        "oracle_value": float("inf"),
        "computed_at": "2026-02-01T10:00:00Z",
    }

    refused = parse(_encode(reference), topic="references")

    assert refused.reason == "invalid_value"
    assert "served_value" in refused.detail and "oracle_value" in refused.detail


def test_a_huge_stock_is_refused() -> None:
    item = {
        "item_id": "i1",
        "category": "bags",
        "brand": "b",
        "price": 10.0,
        "price_tier": 1,
        "stock": 10**30,
        "updated_at": "2026-02-01T10:00:00Z",
    }

    assert parse(_encode(item), topic="catalog").reason == "invalid_value"


def test_a_valid_message_our_code_failed_on_is_kept_as_unprocessable() -> None:
    letter = unprocessable(
        _encode(CLICK), OverflowError("too large"), topic="events", partition=1, offset=9
    )

    assert letter.reason == "unprocessable"
    assert letter.detail == "OverflowError: too large"
    assert base64.b64decode(letter.payload_b64) == _encode(CLICK)
    assert (letter.partition, letter.offset) == (1, 9)
