"""Known answers for the content-based recommender on a hand-made catalog."""

from __future__ import annotations

from models.base import Context, Feedback, ItemInfo
from models.catalog import Catalog
from models.content import Content

DAY = 86_400.0
ITEMS = [
    # item_id, category, brand, tier, tags
    ("boot", "shoes", "acme", 2, ("leather",)),
    ("clog", "shoes", "acme", 2, ("wood",)),
    ("sneaker", "shoes", "zoom", 2, ("canvas",)),
    ("loafer", "shoes", "zoom", 2, ("leather",)),
    ("beanie", "hats", "knit", 2, ("wool",)),
    ("cap", "hats", "zoom", 2, ("cotton",)),
    ("scarf", "scarves", "knit", 2, ("wool",)),
    ("belt", "belts", "acme", 2, ("leather",)),
]


def catalog_of() -> Catalog:
    catalog = Catalog()
    for item_id, category, brand, tier, tags in ITEMS:
        catalog.upsert(ItemInfo(item_id, category, brand, 10.0, tier, stock=3, tags=tags))
    return catalog


def test_recommends_the_category_and_brand_the_user_bought() -> None:
    model = Content(catalog_of())
    model.learn(Feedback("ann", "boot", "purchase", at=0.0))

    slate = model.recommend(Context("ann", 3, 1.0))

    # Weighted matches with boot: clog has category, brand and tier (2.5); loafer has category,
    # tier and tag (2.0), as has belt (brand, tier, tag), which comes later in the catalog.
    assert [s.item_id for s in slate] == ["clog", "loafer", "belt"]


def test_cold_start_by_context_category() -> None:
    model = Content(catalog_of())
    model.learn(Feedback("bob", "cap", "click", at=0.0))

    slate = model.recommend(Context("stranger", 2, 1.0, context_category="hats"))

    # Both hats, the one with events first (popularity breaks the tie).
    assert [s.item_id for s in slate] == ["cap", "beanie"]


def test_old_tastes_decay() -> None:
    model = Content(catalog_of(), half_life_s=DAY)
    for _ in range(3):
        model.learn(Feedback("ann", "boot", "click", at=0.0))
    model.learn(Feedback("ann", "beanie", "click", at=10 * DAY))

    slate = model.recommend(Context("ann", 3, 10 * DAY))

    # Ten half-lives on, the boots weigh 3 / 1024 against the beanie's 1: hats and wool lead.
    assert [s.item_id for s in slate] == ["beanie", "scarf", "cap"]


def test_no_profile_and_no_context_falls_back_to_popularity() -> None:
    model = Content(catalog_of())
    for n in range(3):
        model.learn(Feedback(f"u{n}", "belt", "click", at=float(n)))

    assert model.recommend(Context("stranger", 1, 5.0))[0].item_id == "belt"


def test_profile_survives_a_catalog_numbered_differently() -> None:
    model = Content(catalog_of())
    model.learn(Feedback("ann", "beanie", "purchase", at=0.0))
    reversed_catalog = Catalog()
    for item_id, category, brand, tier, tags in reversed(ITEMS):
        reversed_catalog.upsert(ItemInfo(item_id, category, brand, 10.0, tier, 3, tags))

    restored = Content.from_state(model.to_state(), reversed_catalog)

    original = [s.item_id for s in model.recommend(Context("ann", 2, 1.0))]
    assert [s.item_id for s in restored.recommend(Context("ann", 2, 1.0))] == original
