"""The event contract: pydantic schemas of every message on the wire, encoded as JSON.

Every model forbids unknown fields. A producer that misspells a field (``"prize"`` for
``"price"``) would otherwise lose that value without anyone noticing; rejecting the message
sends it to the dead-letter topic with the field's name instead. A new optional field is
therefore a contract change: consumers are upgraded first, producers second.

Timestamps are timezone-aware UTC datetimes, written as ISO 8601 strings. A naive timestamp
is read as UTC. Times before 1990 or more than a year past the wall clock are rejected as
absurd: no shop in any dataset we replay is older, and no simulated clock runs that far ahead.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic_core import PydanticCustomError

#: The earliest event time accepted; older ones are corrupt or mis-scaled (ms read as s).
EARLIEST_EVENT_AT = datetime(1990, 1, 1, tzinfo=UTC)

#: How far past the wall clock an event time may lie before it counts as absurd.
MAX_FUTURE = timedelta(days=365)

EVENT_TYPES = ("impression", "click", "add_to_cart", "purchase")

#: Largest stock or quantity accepted: far above any shop's, small enough for 64-bit columns.
MAX_COUNT = 1_000_000_000

#: Largest slate position accepted. Served slates hold at most 100 items, but a position may
#: also come from a page that lists more (a category page scrolled far down).
MAX_POSITION = 10_000

EventType = Literal["impression", "click", "add_to_cart", "purchase"]


def _plausible_time(value: datetime) -> datetime:
    """Read naive times as UTC and reject times absurdly far in the past or future."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)

    if value < EARLIEST_EVENT_AT:
        raise PydanticCustomError(
            "implausible_timestamp",
            "timestamp {at} is before {earliest}",
            {"at": value.isoformat(), "earliest": EARLIEST_EVENT_AT.date().isoformat()},
        )
    if value > datetime.now(UTC) + MAX_FUTURE:
        raise PydanticCustomError(
            "implausible_timestamp",
            "timestamp {at} is more than a year in the future",
            {"at": value.isoformat()},
        )
    return value


def _finite_price(value: float) -> float:
    """Reject NaN and infinite prices, which JSON parsers accept as extensions."""
    if not math.isfinite(value):
        raise PydanticCustomError("invalid_price", "price must be a finite number")
    return value


def _finite(value: float) -> float:
    """Reject NaN and infinities, which would silently poison every mean they enter."""
    if not math.isfinite(value):
        raise PydanticCustomError("invalid_value", "value must be a finite number")
    return value


def _not_a_bool(value: object) -> object:
    """Refuse true and false where a number belongs; Python would read them as 1 and 0."""
    if isinstance(value, bool):
        raise PydanticCustomError("wrong_type", "a number is required, not true or false")
    return value


def _printable(value: str) -> str:
    """Refuse control characters (NUL, newlines) in identifiers: they break logs and SQL."""
    if any(ord(character) < 32 for character in value):
        raise PydanticCustomError("invalid_value", "identifiers may not contain control characters")
    return value


Id = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=128),
    AfterValidator(_printable),
]
Number = BeforeValidator(_not_a_bool)
Timestamp = Annotated[datetime, AfterValidator(_plausible_time)]
Price = Annotated[float, Number, Field(ge=0), AfterValidator(_finite_price)]
Finite = Annotated[float, Number, AfterValidator(_finite)]
Count = Annotated[int, Number]


class Contract(BaseModel):
    """Base of every message: strict about unknown fields, immutable once built."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def to_bytes(self) -> bytes:
        """The message as it travels on the wire: compact JSON, UTF-8."""
        return self.model_dump_json(exclude_none=True).encode()


class CatalogItem(Contract):
    """One article the shop sells.

    Attributes
    ----------
    item_id
        Stable identifier.
    category, brand
        Used by the content-based recommender and by the one-brand-per-slate rule.
    price
        Current list price, in the shop's currency.
    price_tier
        0 (entry) to 4 (haute); a slate keeps to the tiers the shopper has bought in.
    stock
        Units left; an item with no stock is never recommended.
    tags
        Free attributes (material, colour, genre) for content matching.
    """

    item_id: Id
    title: str = ""
    category: Id
    brand: Id
    price: Price
    price_tier: Count = Field(ge=0, le=4)
    stock: Count = Field(ge=0, le=MAX_COUNT)
    tags: list[str] = Field(default_factory=list, max_length=64)
    updated_at: Timestamp


class RecRequest(Contract):
    """A shopper opens a page and asks for ``k`` items.

    ``context_item_id`` is the item on the page, when the page shows one; ``context_category``
    is the category being browsed.
    """

    event_type: Literal["rec_request"] = "rec_request"
    request_id: Id
    user_id: Id
    session_id: Id
    requested_at: Timestamp
    k: Count = Field(default=10, ge=1, le=100)
    context_item_id: Id | None = None
    context_category: Id | None = None


class SlateItem(Contract):
    """One place in a served slate.

    ``source`` says which recommender filled the place (in the hybrid arm, the source the
    bandit chose), and ``source_probability`` the probability with which it was chosen, so
    that the slate can later be re-weighted for off-policy evaluation.
    """

    item_id: Id
    position: Count = Field(ge=0, le=MAX_POSITION)
    score: Finite
    source: str
    source_probability: float = Field(default=1.0, ge=0, le=1)


class Recommendation(Contract):
    """The exposure record of a served slate: what a shopper of which arm was shown."""

    event_type: Literal["recommendation"] = "recommendation"
    request_id: Id
    user_id: Id
    session_id: Id
    arm: Id
    model_version: str
    slate: list[SlateItem] = Field(max_length=100)
    requested_at: Timestamp
    served_at: Timestamp


class Interaction(Contract):
    """A shopper's interaction with an item: impression, click, add_to_cart or purchase.

    ``request_id``, ``arm`` and ``position`` are set when the interaction came from a served
    slate and absent for organic browsing. A purchase carries the unit ``price`` paid and the
    ``quantity`` bought; other kinds may carry the price shown.
    """

    event_id: Id
    event_type: EventType
    event_at: Timestamp
    user_id: Id
    item_id: Id
    session_id: Id
    request_id: Id | None = None
    arm: Id | None = None
    position: Count | None = Field(default=None, ge=0, le=MAX_POSITION)
    price: Price | None = None
    quantity: Count | None = Field(default=None, gt=0, le=MAX_COUNT)

    @model_validator(mode="after")
    def _purchase_has_price(self) -> Interaction:
        if self.event_type == "purchase" and (self.price is None or self.quantity is None):
            raise PydanticCustomError("missing_field", "a purchase needs price and quantity")
        return self

    @property
    def revenue(self) -> float:
        """Money taken by this event: price times quantity for a purchase, else 0."""
        if self.event_type != "purchase":
            return 0.0
        return float(self.price or 0.0) * int(self.quantity or 0)


class Reference(Contract):
    """Ground-truth value of the served slate and of the random and oracle slates.

    The simulator knows each shopper's true preferences, so for a sample of requests it scores
    the slate actually served, a random slate and the best possible (oracle) slate by the
    expected reward of its choice model. The analysis places each arm between the two as
    ``(served - random) / (oracle - random)``.
    """

    event_type: Literal["reference"] = "reference"
    request_id: Id
    user_id: Id
    arm: Id
    served_value: Finite
    random_value: Finite
    oracle_value: Finite
    computed_at: Timestamp


DeadLetterReason = Literal[
    "not_json",
    "not_an_object",
    "unknown_event_type",
    "missing_field",
    "wrong_type",
    "unknown_field",
    "empty_id",
    "invalid_price",
    "invalid_quantity",
    "implausible_timestamp",
    "invalid_value",
    "oversize_payload",
    "unprocessable",
]


class DeadLetter(Contract):
    """A message that failed validation, kept whole enough to inspect and replay.

    Attributes
    ----------
    reason
        One code from :data:`DeadLetterReason`; the first problem found decides it.
    detail
        Human-readable explanation, including every field that failed.
    payload_b64
        The raw bytes, base64, cut to ``stream.validation.DEAD_LETTER_PAYLOAD_BYTES`` (16 KiB)
        before encoding; ``payload_truncated`` says whether they were cut and ``payload_size``
        is the full size.
    """

    reason: DeadLetterReason
    detail: str
    source_topic: str
    partition: int | None = None
    offset: int | None = None
    key: str | None = None
    payload_b64: str
    payload_size: int = Field(ge=0)
    payload_truncated: bool
    received_at: Timestamp


#: Which model reads a message on each topic, by the message's ``event_type``.
MESSAGE_TYPES: dict[str, type[Contract]] = {
    "rec_request": RecRequest,
    "recommendation": Recommendation,
    "reference": Reference,
    **{kind: Interaction for kind in EVENT_TYPES},
}

SCHEMAS: dict[str, type[Contract]] = {
    "catalog_item": CatalogItem,
    "rec_request": RecRequest,
    "recommendation": Recommendation,
    "interaction": Interaction,
    "reference": Reference,
    "dead_letter": DeadLetter,
}
