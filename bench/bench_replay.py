"""Reference benchmark: the arms' recommenders against well-known libraries on real datasets.

MovieLens 100K and UCI Online Retail are replayed in time order by the prequential protocol of
:mod:`producers.offline` (for each interaction: ask the user's slate of ``k = 10``, score a hit
and its position, then learn the interaction), strictly one interaction at a time. Every method
sees the whole stream (all users), so its numbers compare with the libraries'; in the
experiment itself each arm sees only its own fifth of the users (``--split`` adds that run).

Methods, all in the same run and on the same interactions:

- each arm's recommender (popularity, co-occurrence, matrix factorisation, content, hybrid)
  through :class:`stream.arms.ArmModels` with a one-arm experiment, exactly as the worker runs
  it;
- ``implicit`` ALS and item-kNN (cosine and BM25 similarity, ``K = 100`` neighbours), retrained
  from scratch on the whole prefix every ``--retrain-every`` interactions (5,000 by default).
  Between retrains ALS recomputes the asking user's factors from their full history so far
  (``recalculate_user``) and item-kNN scores the user's full history against the last
  similarity matrix; items first seen after the last retrain cannot be recommended until the
  next one;
- river ``FunkMF`` and ``BiasedMF``, learning online: each interaction is a target of 1 for
  its item and of 0 for ``--negatives`` items drawn uniformly from the catalog (river's models
  regress a value, and with positives alone every score drifts to 1). Items are ranked with
  one matrix-vector product over a mirror of the item factors, not ``predict_one`` per item.

Every library method picks its slate from its scores through the same business rules as the
arms (:class:`models.rules.BusinessRules`: never an item the user bought, price tiers near the
ones bought, at most two items of a brand), with a user history fed every interaction, so the
methods differ only in their scores. A user with no history gets the items with the most
interactions so far, from every library method. The hyper-parameters are common defaults,
not tuned on these data.

Run with ``python bench/bench_replay.py [--data ../shared/data] [--online-retail-limit N]``.
Wall times are for the whole replay (learning, retraining and ranking) on one process.
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse
from rich.console import Console
from rich.table import Table
from threadpoolctl import threadpool_limits

from analysis.replay_metrics import ArmReplayMetrics, outcome_metrics
from models.base import Context, Feedback, ItemInfo
from models.catalog import Catalog
from models.history import UserHistory
from models.registry import ARM_RECOMMENDERS
from models.rules import BusinessRules
from producers.datasets import ReplayData, read_dataset
from producers.offline import K, run_offline
from stream.assignment import Experiment
from stream.events import CatalogItem, Interaction

logger = logging.getLogger(__name__)

DATASETS = {"movielens": "movielens-100k", "online-retail": "online-retail"}


class LibraryMethod:
    """A library recommender wrapped for the protocol: score every catalog item, learn one event.

    Subclasses implement :meth:`user_scores` and may override :meth:`learn` and :meth:`retrain`.
    The base class keeps the interaction matrix of the prefix and the popularity fallback.
    """

    name = ""

    def __init__(self) -> None:
        self.user_index: dict[str, int] = {}
        self.user_items: dict[int, dict[int, float]] = {}
        self.counts = np.zeros(0)

    def add_item(self, n_items: int) -> None:
        """The catalog has grown to ``n_items``."""
        if n_items > len(self.counts):
            self.counts = np.concatenate([self.counts, np.zeros(n_items - len(self.counts))])

    def scores(self, user_id: str) -> np.ndarray:
        """Scores of every catalog item for ``user_id``; popularity for a user with no history."""
        user = self.user_index.get(user_id)
        if user is None or not self.user_items.get(user):
            return self.counts.copy()
        return self.user_scores(user, user_id)

    def user_scores(self, user: int, user_id: str) -> np.ndarray:
        raise NotImplementedError

    def learn(self, user_id: str, item: int) -> None:
        user = self.user_index.setdefault(user_id, len(self.user_index))
        row = self.user_items.setdefault(user, {})
        row[item] = row.get(item, 0.0) + 1.0
        self.counts[item] += 1.0

    def retrain(self) -> None:
        """Refit on the prefix; online methods do nothing."""

    def matrix(self, n_items: int) -> scipy.sparse.csr_matrix:
        """The prefix's users-by-items interaction counts."""
        rows, columns, values = [], [], []
        for user, row in self.user_items.items():
            rows.extend([user] * len(row))
            columns.extend(row)
            values.extend(row.values())
        shape = (len(self.user_index), n_items)
        return scipy.sparse.csr_matrix((values, (rows, columns)), shape=shape, dtype=np.float32)

    def history_row(self, user: int, n_items: int) -> scipy.sparse.csr_matrix:
        """One user's counts over the first ``n_items`` items, as a one-row matrix."""
        row = {item: value for item, value in self.user_items[user].items() if item < n_items}
        columns = np.fromiter(row, dtype=np.int32, count=len(row))
        values = np.fromiter(row.values(), dtype=np.float32, count=len(row))
        indptr = np.array([0, len(row)], dtype=np.int32)
        return scipy.sparse.csr_matrix((values, columns, indptr), shape=(1, n_items))


class ImplicitALS(LibraryMethod):
    """``implicit.als.AlternatingLeastSquares``, retrained on the prefix."""

    name = "implicit ALS (64 factors)"

    def __init__(self) -> None:
        super().__init__()
        self.model = None
        self.n_fitted_items = 0

    def retrain(self) -> None:
        from implicit.als import AlternatingLeastSquares

        # A fresh model each time: a refit of a fitted model starts from its old factors and
        # ends in NaN once the matrix has grown new rows or columns.
        self.model = AlternatingLeastSquares(
            factors=64, regularization=0.05, alpha=4.0, iterations=15, random_state=0
        )
        self.n_fitted_items = len(self.counts)
        self.model.fit(self.matrix(self.n_fitted_items), show_progress=False)

    def user_scores(self, user: int, user_id: str) -> np.ndarray:
        if self.n_fitted_items == 0:
            return self.counts.copy()
        row = self.history_row(user, self.n_fitted_items)
        factors = self.model.recalculate_user(user, row)
        scores = np.full(len(self.counts), -np.inf)
        scores[: self.n_fitted_items] = self.model.item_factors @ factors
        return scores


class ImplicitItemKNN(LibraryMethod):
    """An ``implicit.nearest_neighbours`` item-item recommender, retrained on the prefix."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        from implicit.nearest_neighbours import BM25Recommender, CosineRecommender

        self.name = f"implicit item-kNN {kind} (K=100)"
        self.model = BM25Recommender(K=100) if kind == "bm25" else CosineRecommender(K=100)
        self.n_fitted_items = 0

    def retrain(self) -> None:
        self.n_fitted_items = len(self.counts)
        self.model.fit(self.matrix(self.n_fitted_items), show_progress=False)

    def user_scores(self, user: int, user_id: str) -> np.ndarray:
        if self.n_fitted_items == 0:
            return self.counts.copy()
        row = self.history_row(user, self.n_fitted_items)
        scores = np.full(len(self.counts), -np.inf)
        scores[: self.n_fitted_items] = (row @ self.model.similarity).toarray().ravel()
        return scores


class RiverMF(LibraryMethod):
    """A river matrix factorisation learning online, with sampled zero targets."""

    def __init__(self, biased: bool, n_negatives: int, seed: int = 0) -> None:
        super().__init__()
        from river import optim, reco

        self.biased = biased
        self.name = f"river {'BiasedMF' if biased else 'FunkMF'} (online, 32 factors)"
        initializer = optim.initializers.Normal(mu=0.0, sigma=0.1, seed=seed)
        if biased:
            self.model = reco.BiasedMF(
                n_factors=32,
                bias_optimizer=optim.SGD(0.05),
                latent_optimizer=optim.SGD(0.05),
                l2_latent=0.001,
                latent_initializer=initializer,
            )
        else:
            self.model = reco.FunkMF(
                n_factors=32, optimizer=optim.SGD(0.05), l2=0.001, initializer=initializer
            )
        self.n_negatives = n_negatives
        self.rng = np.random.default_rng(seed)
        self.item_factors = np.zeros((0, 32))
        self.item_biases = np.zeros(0)

    def add_item(self, n_items: int) -> None:
        old = len(self.counts)
        super().add_item(n_items)
        grown = np.zeros((n_items, 32))
        grown[:old] = self.item_factors[:old]
        self.item_factors = grown
        self.item_biases = np.concatenate([self.item_biases, np.zeros(n_items - old)])
        for item in range(old, n_items):
            self._mirror(item)

    def learn(self, user_id: str, item: int) -> None:
        super().learn(user_id, item)
        self.model.learn_one(user_id, item, 1.0)
        self._mirror(item)
        for negative in self.rng.integers(0, len(self.counts), size=self.n_negatives).tolist():
            if negative != item:
                self.model.learn_one(user_id, negative, 0.0)
                self._mirror(negative)

    def user_scores(self, user: int, user_id: str) -> np.ndarray:
        scores = self.item_factors @ self.model.u_latents[user_id]
        if self.biased:
            scores = scores + self.item_biases
        return scores

    def _mirror(self, item: int) -> None:
        """Copy one item's factors (and bias) from the river model into the numpy mirror."""
        self.item_factors[item] = self.model.i_latents[item]
        if self.biased:
            self.item_biases[item] = self.model.i_biases[item]


@dataclass
class MethodResult:
    name: str
    metrics: ArmReplayMetrics
    wall_s: float


def run_library(
    method: LibraryMethod, data: ReplayData, retrain_every: int, k: int = K
) -> MethodResult:
    """Replay ``data`` through a library method by the strict prequential protocol."""
    catalog, history, rules = Catalog(), UserHistory(), BusinessRules()
    outcomes: list[tuple[str, str, int | None]] = []
    started = time.perf_counter()

    for n, interaction in enumerate(data.interactions):
        item = catalog.index_of(interaction.item_id)
        if item is None:
            item = catalog.upsert(_item_info(data.items[interaction.item_id]))
            method.add_item(catalog.n_items)
        if n > 0 and n % retrain_every == 0:
            method.retrain()

        context = Context(interaction.user_id, k, at=interaction.event_at.timestamp())
        picked = rules.select(method.scores(interaction.user_id), catalog, history, context, k)
        position = picked.index(item) if item in picked else None
        outcomes.append((interaction.user_id, "all", position))

        method.learn(interaction.user_id, item)
        history.record(_feedback(interaction), item, catalog)

    wall_s = time.perf_counter() - started
    [metrics] = outcome_metrics(outcomes, k)
    return MethodResult(method.name, metrics, wall_s)


def run_arm(recommender: str, data: ReplayData) -> MethodResult:
    """Replay ``data`` through one arm recommender that sees every user."""
    run = run_offline(data, Experiment(arms=("A",)), {"A": recommender})
    [metrics] = outcome_metrics((o.user_id, o.arm, o.position) for o in run.outcomes)
    return MethodResult(f"arm recommender: {recommender}", metrics, run.wall_s)


def run_split(data: ReplayData) -> list[MethodResult]:
    """Replay ``data`` through the five-arm experiment: each arm learns its own users only."""
    run = run_offline(data)
    metrics = outcome_metrics((o.user_id, o.arm, o.position) for o in run.outcomes)
    return [
        MethodResult(f"experiment arm {arm.arm} ({ARM_RECOMMENDERS[arm.arm]}, own users)", arm, 0)
        for arm in metrics
    ]


def _item_info(item: CatalogItem) -> ItemInfo:
    return ItemInfo(
        item.item_id,
        item.category,
        item.brand,
        item.price,
        item.price_tier,
        item.stock,
        tuple(item.tags),
    )


def _feedback(interaction: Interaction) -> Feedback:
    return Feedback(
        interaction.user_id,
        interaction.item_id,
        interaction.event_type,
        at=interaction.event_at.timestamp(),
        price=interaction.price or 0.0,
        quantity=interaction.quantity or 1,
    )


def library_methods(n_negatives: int) -> list[Callable[[], LibraryMethod]]:
    return [
        ImplicitALS,
        lambda: ImplicitItemKNN("cosine"),
        lambda: ImplicitItemKNN("bm25"),
        lambda: RiverMF(biased=False, n_negatives=n_negatives),
        lambda: RiverMF(biased=True, n_negatives=n_negatives),
    ]


def bench_dataset(data: ReplayData, args: argparse.Namespace, console: Console) -> list:
    results = []
    for recommender in ARM_RECOMMENDERS.values():
        results.append(run_arm(recommender, data))
        console.log(f"{data.name}: {results[-1].name} done in {results[-1].wall_s:.0f} s")
    for make in library_methods(args.negatives):
        results.append(run_library(make(), data, args.retrain_every))
        console.log(f"{data.name}: {results[-1].name} done in {results[-1].wall_s:.0f} s")
    if args.split:
        results.extend(run_split(data))
    return results


def render(all_results: dict[str, tuple[ReplayData, list[MethodResult]]], console: Console) -> None:
    table = Table(title=f"prequential replay in time order: hit-rate@{K} and NDCG@{K}, 95% CI")
    for column in ("dataset", "method", f"hit-rate@{K}", "95% CI", f"NDCG@{K}", "wall s"):
        table.add_column(column, justify="left" if column in ("dataset", "method") else "right")
    for name, (_data, results) in all_results.items():
        for result in results:
            metrics = result.metrics
            low, high = metrics.hit_rate_interval
            table.add_row(
                name,
                result.name,
                f"{metrics.hit_rate:.4f}",
                f"[{low:.4f}, {high:.4f}]",
                f"{metrics.ndcg:.4f}",
                f"{result.wall_s:.0f}" if result.wall_s else "-",
            )
        table.add_section()
    console.print(table)
    for data, _ in all_results.values():
        console.print(data.describe())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--datasets", default="movielens,online-retail")
    parser.add_argument("--movielens-limit", type=int, default=None)
    parser.add_argument("--online-retail-limit", type=int, default=100_000)
    parser.add_argument("--retrain-every", type=int, default=5_000)
    parser.add_argument("--negatives", type=int, default=3)
    parser.add_argument("--split", action="store_true", help="Add the five-arm experiment run.")
    args = parser.parse_args()

    logging.basicConfig(level=logging.WARNING)
    # implicit warns once per fit that OpenBLAS runs several threads; the fits stay correct.
    warnings.filterwarnings("ignore", module="implicit")
    # Wide enough for one line per method when the output is a file rather than a terminal.
    console = Console(width=150)
    limits = {"movielens": args.movielens_limit, "online-retail": args.online_retail_limit}

    all_results = {}
    # One BLAS thread: implicit solves many small systems, which a BLAS thread pool slows
    # down about fivefold (measured on ALS here), and implicit warns about it.
    with threadpool_limits(1, "blas"):
        for name in args.datasets.split(","):
            data = read_dataset(args.data / DATASETS[name], name, limit=limits[name])
            console.log(data.describe())
            all_results[name] = (data, bench_dataset(data, args, console))
    render(all_results, console)


if __name__ == "__main__":
    main()
