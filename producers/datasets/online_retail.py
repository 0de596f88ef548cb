"""Reader of UCI Online Retail: invoice lines replayed as purchases with their unit price.

Mapping onto the contract (the monthly ``online_retail_*.csv.gz`` parts, read in month order,
which is time order):

- **user** ``c<CustomerID>``, **item** the ``StockCode`` upper-cased (a few codes appear in
  both cases for one product); ``event_id`` ``or-<row number>`` (row number over all parts,
  from 0); ``session_id`` the invoice number, so one basket is one session.
- **Every kept invoice line -> purchase** with ``price`` = ``UnitPrice`` (pounds) and
  ``quantity`` = ``Quantity``. ``InvoiceDate`` is local UK time without a zone and is read as
  UTC (at most an hour off in summer, the same for every event).
- **Catalog**, from the line where the item first appears: title = ``Description``; the
  category is the description's last word (``HOLDER``, ``LANTERN``, ``BOTTLE``: the kind of
  product, as the shop names it), the tags are its other words of three letters or more; price
  = that line's unit price, and the price tier a band of it (see :data:`PRICE_TIER_BOUNDS`);
  each item is its own brand (no brands in the data), stock unlimited.
- Drops, counted in this order of checks (a row counts once, under the first that applies):

  ``no_customer``
      empty ``CustomerID``: a guest checkout cannot be tied to a user.
  ``cancellation``
      invoice number starting with ``C``. The contract has no return event, and a return is
      not a preference for the item, so cancellations are dropped rather than replayed.
  ``adjustment``
      invoice number starting with ``A`` (bad-debt adjustments).
  ``non_product``
      stock codes that are not products: postage, fees, discounts, manual lines, vouchers.
  ``non_positive_quantity``, ``non_positive_price``
      stock corrections and free lines that are not sales.

NOTE: an item's catalog record keeps the price of its first sale; later price changes are not
replayed as catalog updates. Only the content recommender and the price-tier rule read the
price, and the tier band changes rarely. Replaying updates would matter for a price-aware arm.
"""

from __future__ import annotations

import csv
import gzip
import logging
import re
from bisect import bisect_right
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from producers.datasets.base import UNLIMITED_STOCK, ReplayData, keep_first
from stream.events import CatalogItem, Interaction

logger = logging.getLogger(__name__)

#: Unit prices (pounds) where the next price tier starts: tier 0 below 1.00, tier 4 from 10.00.
PRICE_TIER_BOUNDS = (1.0, 2.5, 5.0, 10.0)

#: Product codes are five digits with an optional letter suffix; anything else is a fee,
#: postage, discount, voucher or manual line.
PRODUCT_CODE = re.compile(r"^\d{5}[A-Z]*$")

_WORD = re.compile(r"[A-Z][A-Z']{2,}")
_STOP_WORDS = frozenset({"AND", "THE", "FOR", "WITH", "SET", "PACK", "OF"})


def read_online_retail(dataset_dir: Path, limit: int | None = None) -> ReplayData:
    """Read every ``online_retail_*.csv.gz`` part in ``dataset_dir`` and map it onto the contract.

    Parameters
    ----------
    dataset_dir
        The folder holding the monthly parts.
    limit
        Keep only the first ``limit`` interactions in time order.
    """
    parts = sorted(dataset_dir.glob("online_retail_*.csv.gz"))
    if not parts:
        raise FileNotFoundError(f"no online_retail_*.csv.gz parts in {dataset_dir}")

    drops: Counter[str] = Counter()
    interactions: list[Interaction] = []
    items: dict[str, CatalogItem] = {}
    n_rows = 0
    for row in _rows(parts):
        reason = _drop_reason(row)
        if reason is not None:
            drops[reason] += 1
        else:
            interaction = _interaction(row, n_rows)
            interactions.append(interaction)
            if interaction.item_id not in items:
                items[interaction.item_id] = _catalog_item(row, interaction)
        n_rows += 1
        if limit is not None and len(interactions) > limit:
            # Reading on would only add rows beyond the limit; stop at the first of them.
            break

    # The parts are in time order already; the stable sort only guards against a part
    # that is not, and keeps the file order of lines that share a minute.
    interactions.sort(key=lambda interaction: interaction.event_at)
    data = keep_first(ReplayData("online-retail", items, interactions, drops, n_rows), limit)
    logger.info("dataset_read %s", data.describe())
    return data


def _rows(parts: list[Path]):
    for part in parts:
        with gzip.open(part, "rt", encoding="utf-8", newline="") as text:
            yield from csv.DictReader(text)


def _drop_reason(row: dict[str, str]) -> str | None:
    if not row["CustomerID"].strip():
        return "no_customer"
    if row["InvoiceNo"].startswith("C"):
        return "cancellation"
    if row["InvoiceNo"].startswith("A"):
        return "adjustment"
    if not PRODUCT_CODE.match(row["StockCode"].upper()):
        return "non_product"
    if int(row["Quantity"]) <= 0:
        return "non_positive_quantity"
    if float(row["UnitPrice"]) <= 0:
        return "non_positive_price"
    return None


def _interaction(row: dict[str, str], row_number: int) -> Interaction:
    customer = row["CustomerID"].strip().removesuffix(".0")
    return Interaction(
        event_id=f"or-{row_number}",
        event_type="purchase",
        event_at=datetime.fromisoformat(row["InvoiceDate"]).replace(tzinfo=UTC),
        user_id=f"c{customer}",
        item_id=row["StockCode"].upper(),
        session_id=row["InvoiceNo"],
        price=float(row["UnitPrice"]),
        quantity=int(row["Quantity"]),
    )


def price_tier(price: float) -> int:
    """The price tier of a unit price: the number of :data:`PRICE_TIER_BOUNDS` at or below it.

    Examples
    --------
    >>> [price_tier(p) for p in (0.42, 1.0, 2.55, 7.95, 12.75)]
    [0, 1, 2, 3, 4]
    """
    return bisect_right(PRICE_TIER_BOUNDS, price)


def _catalog_item(row: dict[str, str], interaction: Interaction) -> CatalogItem:
    words = _WORD.findall(row["Description"].upper())
    price = float(row["UnitPrice"])
    return CatalogItem(
        item_id=interaction.item_id,
        title=row["Description"],
        category=words[-1] if words else "UNKNOWN",
        brand=interaction.item_id,
        price=price,
        price_tier=price_tier(price),
        stock=UNLIMITED_STOCK,
        tags=sorted({word.lower() for word in words[:-1] if word not in _STOP_WORDS})[:16],
        updated_at=interaction.event_at,
    )
