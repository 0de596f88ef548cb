"""Known answers for online BPR matrix factorisation: a block matrix and one hand-checked step."""

from __future__ import annotations

import numpy as np
import pytest

from models.base import Context, Feedback, ItemInfo
from models.catalog import Catalog
from models.matrix_factorisation import MatrixFactorisation

N_BLOCKS, ITEMS_PER_BLOCK, USERS_PER_BLOCK = 3, 8, 25


def block_catalog() -> Catalog:
    catalog = Catalog()
    for n in range(N_BLOCKS * ITEMS_PER_BLOCK):
        catalog.upsert(ItemInfo(f"i{n}", "c", f"b{n}", 1.0, 0, stock=5))
    return catalog


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_block_matrix_users_get_their_block(seed: int) -> None:
    """Users of block b only ever touch items of block b (a block-diagonal, checkerboard-like
    interaction matrix). A newcomer who clicked two items of a block must be recommended the
    rest of that block before any other item."""
    rng = np.random.default_rng(seed)
    model = MatrixFactorisation(block_catalog(), seed=seed)
    at = 0.0
    for _ in range(15):
        for block in range(N_BLOCKS):
            for user in range(USERS_PER_BLOCK):
                items = rng.choice(ITEMS_PER_BLOCK, size=3, replace=False) + block * ITEMS_PER_BLOCK
                for item in items.tolist():
                    model.learn(Feedback(f"u{block}-{user}", f"i{item}", "click", at=at))
                    at += 1.0

    for block in range(N_BLOCKS):
        first = block * ITEMS_PER_BLOCK
        model.learn(Feedback(f"new{block}", f"i{first}", "purchase", at=at))
        model.learn(Feedback(f"new{block}", f"i{first + 1}", "purchase", at=at))
        slate = model.recommend(Context(f"new{block}", ITEMS_PER_BLOCK - 2, at))

        blocks = {int(s.item_id[1:]) // ITEMS_PER_BLOCK for s in slate}
        assert blocks == {block}, f"seed={seed} block={block} slate={slate}"


def test_one_step_matches_the_bpr_gradient() -> None:
    catalog = block_catalog()
    model = MatrixFactorisation(catalog, n_factors=3, learning_rate=0.1, regularisation=0.01)
    model.learn(Feedback("ann", "i0", "click", at=0.0))
    user = model._user_index["ann"]
    p = model._user_factors[user].copy()
    q = model._item_factors[: catalog.n_items].copy()
    b = model._item_bias[: catalog.n_items].copy()
    negatives = np.array([4, 9])

    model._bpr_step(user, 2, negatives, 0.1)

    # The gradient of mean_j log sigmoid(x_u2 - x_uj) with L2, written out by hand.
    sig = np.array([1 / (1 + np.exp(p @ (q[2] - q[j]) + b[2] - b[j])) for j in negatives]) / 2
    step_p = sum(s * (q[2] - q[j]) for s, j in zip(sig, negatives, strict=True))
    expected_p = p + 0.1 * (step_p - 0.01 * p)
    expected_q2 = q[2] + 0.1 * (sig.sum() * p - 0.01 * q[2])
    expected_q4 = q[4] - 0.1 * (sig[0] * p + 0.01 * q[4])
    assert np.allclose(model._user_factors[user], expected_p)
    assert np.allclose(model._item_factors[2], expected_q2)
    assert np.allclose(model._item_factors[4], expected_q4)
    assert np.isclose(model._item_bias[2], b[2] + 0.1 * (sig.sum() - 0.01 * b[2]))
    assert np.isclose(model._item_bias[9], b[9] - 0.1 * (sig[1] + 0.01 * b[9]))


def test_impressions_are_not_learnt_by_default() -> None:
    model = MatrixFactorisation(block_catalog())
    model.learn(Feedback("ann", "i0", "impression", at=0.0))

    assert model.n_learnt == 1
    assert model.n_users == 0


def test_scoring_does_not_change_the_model() -> None:
    catalog = block_catalog()
    model = MatrixFactorisation(catalog, seed=4)
    model.learn(Feedback("ann", "i0", "click", at=0.0))
    before = model.to_state()
    catalog.upsert(ItemInfo("late", "c", "late", 1.0, 0, stock=5))

    first = model.recommend(Context("ann", 5, 1.0))
    second = model.recommend(Context("ann", 5, 1.0))

    assert first == second
    restored = MatrixFactorisation.from_state(before, catalog)
    assert restored.recommend(Context("ann", 5, 1.0)) == first
