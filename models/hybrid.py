"""The bandit-weighted hybrid (arm E): a bandit policy chooses the source of each slot of a slate.

The hybrid owns one instance of each of the four other recommenders (its sources), teaches them
all the events it learns, and fills a slate slot by slot: a river bandit policy pulls a source,
and the slot gets that source's best remaining item. When the hybrid serves a slate it keeps
``request_id -> item_id -> source``; later impressions, clicks and purchases of those slots
carrying the same ``request_id`` update the policy, so sources whose items get clicked and
bought are chosen more often.
"""

from __future__ import annotations

import logging
import pickle
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Unpack

import numpy as np
from river import bandit, proba

from models import state as state_codec
from models.base import Context, Feedback, Recommender, RecommenderOptions, Scored
from models.catalog import Catalog
from models.content import Content
from models.cooccurrence import CoOccurrence
from models.matrix_factorisation import MatrixFactorisation
from models.popularity import Popularity

__all__ = ["Hybrid", "POLICIES", "SOURCES"]

logger = logging.getLogger(__name__)

#: The recommenders the hybrid chooses among, by name (the ``source`` of their slots).
SOURCES: dict[str, type[Recommender]] = {
    source.name: source for source in (Popularity, CoOccurrence, MatrixFactorisation, Content)
}

#: The bandit policies the hybrid can use.
POLICIES = ("thompson", "epsilon_greedy")

_KIND_BITS = {"impression": 1, "click": 2, "add_to_cart": 4, "purchase": 8}


class Hybrid(Recommender):
    """Fill each slot from a source chosen by a bandit rewarded by clicks and purchases.

    **Rewards.** Each impression of a served slot is a trial with reward 0, each click a trial
    with reward ``click_reward`` and each purchase one with ``purchase_reward``; an
    add-to-cart is not a trial. Each kind counts once per slot. With Thompson sampling the
    reward object is a Beta distribution, for which any positive reward is one success: the
    policy then estimates ``(clicks + purchases) / (impressions + clicks + purchases)`` per
    source, which orders sources as their click and purchase rates per impression do. With
    epsilon-greedy the rewards are averaged, so their sizes matter.

    **Source probabilities.** Each :class:`~models.base.Scored` carries the probability with
    which the policy would have chosen its source among the sources still able to fill the
    slot, for off-policy evaluation. Epsilon-greedy gives it exactly:
    ``(1 - epsilon) * [source is the greedy choice] + epsilon / n_sources``. Thompson sampling
    has no closed form, so it is estimated by a Monte Carlo of the policy's own rule:
    ``n_probability_draws`` draws from each source's Beta posterior, counting how often each
    source has the largest draw; the count is smoothed as ``(wins + 1) / (n_draws +
    n_sources)`` so that no served slot has probability 0. The draws come from a numpy
    generator seeded by the seed and the posterior counts, so the estimate is a function of
    the learnt state: recomputed only when a reward arrives, and equal after a restore.

    **Filling a slate.** The slate obeys the business rules as a whole: each source proposes
    its ranking of the eligible items, and a slot takes the chosen source's best item that is
    not in the slate yet and does not break the brand cap. A source with nothing left to offer
    leaves the pull, and the policy pulls again among the others.

    Parameters
    ----------
    catalog
        The shared catalog.
    policy
        ``"thompson"`` (Thompson sampling with a Beta(1, 1) prior) or ``"epsilon_greedy"``.
    epsilon
        Exploration rate of epsilon-greedy.
    click_reward, purchase_reward
        Rewards of a click and of a purchase on a served slot.
    max_served_requests
        Served slates remembered for attribution; the oldest are forgotten first.
    n_probability_draws
        Monte Carlo draws used to estimate Thompson sampling's source probabilities.
    source_options
        Keyword arguments per source name, passed to that source's constructor.
    **options
        ``seed`` and the business rule settings, see :class:`~models.base.Recommender`; the
        sources get the same values.

    Attributes
    ----------
    sources
        The four recommenders, by name.
    n_rewards
        Trials (impressions, clicks, purchases of served slots) fed to the policy.

    Examples
    --------
    >>> from models.base import Context, Feedback, ItemInfo
    >>> from models.catalog import Catalog
    >>> catalog = Catalog()
    >>> for n in range(12):
    ...     _ = catalog.upsert(ItemInfo(f"i{n}", "c", f"b{n}", 1.0, 0, stock=5))
    >>> model = Hybrid(catalog, seed=7)
    >>> model.learn(Feedback("ann", "i3", "click", at=0.0))
    >>> slate = model.recommend(Context("ann", 4, 1.0, request_id="r1"))
    >>> len({s.item_id for s in slate}), all(s.source in model.sources for s in slate)
    (4, True)
    >>> model.learn(Feedback("ann", slate[0].item_id, "click", at=2.0, request_id="r1"))
    >>> model.n_rewards
    1

    References
    ----------
    [^1]: Chapelle, O. and Li, L. (2011). An empirical evaluation of Thompson sampling. NeurIPS.
    [^2]: Li, L., Chu, W., Langford, J. and Wang, X. (2011). Unbiased offline evaluation of
    contextual-bandit-based news article recommendation algorithms. WSDM.
    """

    name = "hybrid"

    def __init__(
        self,
        catalog: Catalog,
        *,
        policy: str = "thompson",
        epsilon: float = 0.1,
        click_reward: float = 1.0,
        purchase_reward: float = 1.0,
        max_served_requests: int = 100_000,
        n_probability_draws: int = 256,
        source_options: dict[str, dict[str, Any]] | None = None,
        **options: Unpack[RecommenderOptions],
    ) -> None:
        super().__init__(catalog, **options)
        if policy not in POLICIES:
            raise ValueError(f"unknown policy {policy!r}; expected one of {POLICIES}")

        self.policy_name = policy
        self.epsilon = float(epsilon)
        self.click_reward = float(click_reward)
        self.purchase_reward = float(purchase_reward)
        self.max_served_requests = max_served_requests
        self.n_probability_draws = n_probability_draws
        self.source_options = {name: dict(o) for name, o in (source_options or {}).items()}
        self.sources: dict[str, Recommender] = {
            name: source(catalog, **options, **self.source_options.get(name, {}))
            for name, source in SOURCES.items()
        }
        self.policy = self._build_policy()
        self.n_rewards = 0
        self._probability_key: tuple[Any, ...] | None = None
        self._probabilities: dict[str, float] = {}
        self._served: OrderedDict[str, dict[str, list[Any]]] = OrderedDict()
        # The reward count and sum per source, kept beside the policy so that the source
        # probabilities can be computed without reading the policy's private attributes.
        self._trials = dict.fromkeys(SOURCES, 0)
        self._successes = dict.fromkeys(SOURCES, 0)
        self._reward_sums = dict.fromkeys(SOURCES, 0.0)

    def _build_policy(self) -> bandit.base.Policy:
        if self.policy_name == "thompson":
            return bandit.ThompsonSampling(reward_obj=proba.Beta(1, 1), seed=self.seed)
        return bandit.EpsilonGreedy(epsilon=self.epsilon, seed=self.seed)

    def _learn(self, feedback: Feedback, item_index: int) -> None:
        for source in self.sources.values():
            source.learn(feedback)

        if feedback.request_id is not None:
            self._attribute(feedback)

    def _attribute(self, feedback: Feedback) -> None:
        """Feed the policy the reward of a served slot, once per event kind."""
        slots = self._served.get(feedback.request_id or "")
        slot = slots.get(feedback.item_id) if slots else None
        reward = self._reward_of(feedback.kind)
        if slot is None or reward is None:
            return

        bit = _KIND_BITS[feedback.kind]
        source, kinds_seen = slot
        if kinds_seen & bit:
            return
        slot[1] = kinds_seen | bit

        self.policy.update(source, reward)
        self._trials[source] += 1
        self._successes[source] += int(reward > 0)
        self._reward_sums[source] += reward
        self.n_rewards += 1
        logger.debug(
            "source_rewarded request_id=%s item_id=%s source=%s kind=%s reward=%s",
            feedback.request_id,
            feedback.item_id,
            source,
            feedback.kind,
            reward,
        )

    def _reward_of(self, kind: str) -> float | None:
        if kind == "impression":
            return 0.0
        if kind == "click":
            return self.click_reward
        if kind == "purchase":
            return self.purchase_reward
        return None

    def recommend(self, context: Context) -> list[Scored]:
        if self.catalog.n_items == 0 or context.k <= 0:
            return []

        mask = self.rules.eligible(self.catalog, self.history, context)
        scores = {name: source.score(context) for name, source in self.sources.items()}
        slate = _SlateFiller(self, mask, scores).fill(context.k)
        self._remember(context.request_id, slate)
        return slate

    def source_probabilities(self, available: Sequence[str] | None = None) -> dict[str, float]:
        """The probability that the policy's next pull picks each source among ``available``.

        Exact for epsilon-greedy; for Thompson sampling a Monte Carlo estimate whose draws are
        seeded by the seed and the posterior counts, so it is a function of the learnt state
        (equal states give equal probabilities) and is computed once per state and source set.
        """
        available = tuple(SOURCES if available is None else available)
        # Everything the probabilities depend on; epsilon may decay with the number of updates.
        epsilon = self.policy.current_epsilon if self.policy_name == "epsilon_greedy" else None
        key = (
            available,
            epsilon,
            tuple(self._trials.values()),
            tuple(self._successes.values()),
            tuple(self._reward_sums.values()),
        )
        if self._probability_key != key:
            self._probabilities = self._compute_probabilities(available)
            self._probability_key = key
        return self._probabilities

    def _compute_probabilities(self, available: tuple[str, ...]) -> dict[str, float]:
        if self.policy_name == "epsilon_greedy":
            # river's epsilon-greedy exploits the first source of highest mean reward, 0 if unseen.
            means = [self._reward_sums[s] / max(self._trials[s], 1) for s in available]
            greedy = available[int(np.argmax(means))]
            epsilon = self.policy.current_epsilon
            share = epsilon / len(available)
            return {s: (1.0 - epsilon) * (s == greedy) + share for s in available}

        successes = [self._successes[s] for s in available]
        failures = [self._trials[s] - self._successes[s] for s in available]
        rng = np.random.default_rng([self.seed, *successes, *failures])
        draws = rng.beta(
            1.0 + np.array(successes, dtype=np.float64),
            1.0 + np.array(failures, dtype=np.float64),
            size=(self.n_probability_draws, len(available)),
        )
        wins = np.bincount(np.argmax(draws, axis=1), minlength=len(available))
        smoothed = (wins + 1) / (self.n_probability_draws + len(available))
        return dict(zip(available, smoothed.tolist(), strict=True))

    def _remember(self, request_id: str | None, slate: list[Scored]) -> None:
        if request_id is None or not slate:
            return

        self._served[request_id] = {s.item_id: [s.source, 0] for s in slate}
        self._served.move_to_end(request_id)
        while len(self._served) > self.max_served_requests:
            self._served.popitem(last=False)

    def score(self, context: Context) -> np.ndarray:
        """A deterministic blend of the sources' scores, for callers that need one per item.

        Each source's scores are turned into ``1 / (1 + rank)`` and weighted by the source's
        success rate so far (rewarded slots over slots served, with one prior success and one
        prior failure). :meth:`recommend` does not
        use this blend: it fills slots by pulling sources.
        """
        blend = np.zeros(self.catalog.n_items, dtype=np.float64)
        for name, source in self.sources.items():
            order = np.argsort(-source.score(context), kind="stable")
            reciprocal_rank = np.empty_like(blend)
            reciprocal_rank[order] = 1.0 / (1.0 + np.arange(len(order)))
            weight = (1 + self._successes[name]) / (2 + self._trials[name])
            blend += weight * reciprocal_rank
        return blend

    def _options(self) -> dict[str, Any]:
        return {
            "policy": self.policy_name,
            "epsilon": self.epsilon,
            "click_reward": self.click_reward,
            "purchase_reward": self.purchase_reward,
            "max_served_requests": self.max_served_requests,
            "n_probability_draws": self.n_probability_draws,
            "source_options": self.source_options,
        }

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        requests, items, sources, kinds = [], [], [], []
        for request_id, slots in self._served.items():
            for item_id, (source, kinds_seen) in slots.items():
                requests.append(request_id)
                items.append(item_id)
                sources.append(source)
                kinds.append(kinds_seen)

        header = {
            "n_rewards": self.n_rewards,
            "trials": self._trials,
            "successes": self._successes,
            "reward_sums": self._reward_sums,
        }
        arrays = {
            "served_request": state_codec.strings(requests),
            "served_item": state_codec.strings(items),
            "served_source": state_codec.strings(sources),
            "served_kinds": np.asarray(kinds, dtype=np.int8),
            # NOTE: river policies have no export of their own, so the policy (its reward
            # objects and random generators) is pickled: restore hybrid state only from the
            # worker's own snapshot store, never from bytes another party could write.
            "policy": np.frombuffer(pickle.dumps(self.policy), dtype=np.uint8),
        }
        for name, source in self.sources.items():
            arrays[f"source.{name}"] = np.frombuffer(source.to_state(), dtype=np.uint8)
        return header, arrays

    def _set_state(self, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.n_rewards = header["n_rewards"]
        self._trials = header["trials"]
        self._successes = header["successes"]
        self._reward_sums = header["reward_sums"]
        self.policy = pickle.loads(arrays["policy"].tobytes())
        for name, source in SOURCES.items():
            self.sources[name] = source.from_state(arrays[f"source.{name}"].tobytes(), self.catalog)

        served = zip(
            state_codec.as_strings(arrays["served_request"]),
            state_codec.as_strings(arrays["served_item"]),
            state_codec.as_strings(arrays["served_source"]),
            arrays["served_kinds"].tolist(),
            strict=True,
        )
        for request_id, item_id, source, kinds_seen in served:
            self._served.setdefault(request_id, {})[item_id] = [source, kinds_seen]


class _SlateFiller:
    """Fills one slate: pulls a source per slot and takes that source's best remaining item.

    Each source's ranking starts as a short head and is ranked in full only if the slot
    filling runs through the head (duplicates across sources and the brand cap skip items).
    """

    def __init__(self, hybrid: Hybrid, mask: np.ndarray, scores: dict[str, np.ndarray]) -> None:
        self.hybrid = hybrid
        self.mask = mask
        self.scores = scores
        self.limit = 0
        self.ranked: dict[str, np.ndarray] = {}
        self.complete: dict[str, bool] = {}
        self.cursor = dict.fromkeys(scores, 0)
        self.per_brand: dict[int, int] = {}
        self.taken: set[int] = set()

    def fill(self, k: int) -> list[Scored]:
        hybrid = self.hybrid
        self.limit = 2 * k + 32
        for name, scores in self.scores.items():
            self.ranked[name] = hybrid.rules.ranked(scores, self.mask, self.limit)
            self.complete[name] = len(self.ranked[name]) < self.limit

        available = [name for name in self.ranked if len(self.ranked[name])]
        item_ids = hybrid.catalog.item_ids
        slate: list[Scored] = []
        while len(slate) < k and available:
            source = hybrid.policy.pull(available)
            item = self._next_item(source)
            if item is None:
                available.remove(source)
                continue

            probability = hybrid.source_probabilities(available)[source]
            score = float(self.scores[source][item])
            slate.append(Scored(item_ids[item], score, source, probability))
        return slate

    def _next_item(self, source: str) -> int | None:
        """The source's best item not in the slate and within the brand cap, or None."""
        brand_codes = self.hybrid.catalog.brand_codes
        max_per_brand = self.hybrid.rules.max_per_brand
        while True:
            ranking = self.ranked[source]
            for position in range(self.cursor[source], len(ranking)):
                item = int(ranking[position])
                brand = int(brand_codes[item])
                if item in self.taken or self.per_brand.get(brand, 0) >= max_per_brand:
                    continue
                self.cursor[source] = position + 1
                self.taken.add(item)
                self.per_brand[brand] = self.per_brand.get(brand, 0) + 1
                return item

            if self.complete[source]:
                return None
            # The head is a prefix of the full ranking, so the cursor stays valid.
            self.cursor[source] = len(ranking)
            self.ranked[source] = self.hybrid.rules.ranked(self.scores[source], self.mask)
            self.complete[source] = True
