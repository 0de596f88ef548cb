"""The prequential replay protocol, and its offline runner over :class:`stream.arms.ArmModels`.

Protocol (shared with the Kafka replay of :mod:`producers.replay`): the interactions of a
dataset are taken in time order. For each one, the user's slate is asked for first (``k``
items, no context item) and the outcome recorded: a *hit* when the real item is in the slate,
at its ``position``; only then is the interaction learnt, carrying the slate's ``request_id``,
``arm`` and, for a hit, ``position``. Users appear with their first interaction; an item's
catalog record is published just before the request of its first interaction.

The streaming path needs a round trip through Kafka per slate, so it takes interactions in
*windows* (:func:`windows`): each window holds at most one interaction per user, every request
of a window is answered before any interaction of the window is learnt, and a user's next
interaction waits for a later window. A window of one is the strict protocol. The offline
runner takes the same windows, so with equal windows both paths see the same states.

Metrics (computed in :mod:`analysis.replay_metrics`): hit-rate@k and NDCG@k, where a hit at
position ``p`` (0-based) scores ``1 / log2(p + 2)``, averaged per user and then over users.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from producers.datasets.base import ReplayData
from stream.arms import ArmModels
from stream.assignment import Experiment
from stream.events import Interaction, Recommendation, RecRequest

logger = logging.getLogger(__name__)

#: Slate length of the protocol.
K = 10


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one replayed interaction found in the slate served just before it.

    ``position`` is the real item's place in the slate, or None for a miss.
    """

    event_id: str
    request_id: str
    user_id: str
    item_id: str
    event_type: str
    arm: str
    position: int | None

    @property
    def hit(self) -> bool:
        return self.position is not None


def request_id_of(event_id: str) -> str:
    """The request id of the slate asked for before the interaction ``event_id``."""
    return f"rq-{event_id}"


def request_for(interaction: Interaction, k: int = K) -> RecRequest:
    """The rec-request sent just before ``interaction``, at the interaction's own time."""
    return RecRequest(
        request_id=request_id_of(interaction.event_id),
        user_id=interaction.user_id,
        session_id=interaction.session_id,
        requested_at=interaction.event_at,
        k=k,
    )


def answered(interaction: Interaction, slate: Recommendation) -> tuple[Interaction, Outcome]:
    """The interaction as it is learnt after ``slate`` was served, and the outcome it scores."""
    position = next(
        (place.position for place in slate.slate if place.item_id == interaction.item_id), None
    )
    learnt = interaction.model_copy(
        update={"request_id": slate.request_id, "arm": slate.arm, "position": position}
    )
    outcome = Outcome(
        event_id=interaction.event_id,
        request_id=slate.request_id,
        user_id=interaction.user_id,
        item_id=interaction.item_id,
        event_type=interaction.event_type,
        arm=slate.arm,
        position=position,
    )
    return learnt, outcome


def windows(
    interactions: Sequence[Interaction], size: int = 1, lookahead: int = 2_000
) -> Iterator[list[int]]:
    """Indices of ``interactions`` in windows of at most ``size`` with distinct users.

    A window is filled from the oldest interaction not yet taken, in time order, scanning at
    most ``lookahead`` of them: an interaction is taken unless its user already has one in the
    window or an earlier one left waiting, so each user's interactions keep their order. Other
    users' interactions may move ahead of a waiting one by at most ``lookahead`` places.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> at = datetime(2011, 1, 1, tzinfo=UTC)
    >>> users = ["ann", "ann", "bob", "cid", "bob"]
    >>> stream = [
    ...     Interaction(event_id=str(n), event_type="click", event_at=at, user_id=user,
    ...                 item_id="tea", session_id="s")
    ...     for n, user in enumerate(users)
    ... ]
    >>> list(windows(stream, size=3))
    [[0, 2, 3], [1, 4]]
    >>> list(windows(stream, size=1))
    [[0], [1], [2], [3], [4]]
    """
    waiting = list(range(len(interactions)))
    while waiting:
        taken: list[int] = []
        users: set[str] = set()
        blocked: set[str] = set()
        scanned = 0
        for index in waiting[:lookahead]:
            if len(taken) == size:
                break
            scanned += 1
            user_id = interactions[index].user_id
            if user_id in users or user_id in blocked:
                blocked.add(user_id)
                continue
            users.add(user_id)
            taken.append(index)

        chosen = set(taken)
        waiting = [index for index in waiting[:scanned] if index not in chosen] + waiting[scanned:]
        yield taken


@dataclass
class OfflineRun:
    """The outcomes of an offline replay and what it cost."""

    outcomes: list[Outcome]
    wall_s: float
    n_learnt: dict[str, int]


def run_offline(
    data: ReplayData,
    experiment: Experiment | None = None,
    recommender_of_arm: dict[str, str] | None = None,
    k: int = K,
    window: int = 1,
    lookahead: int = 2_000,
    seed: int = 0,
    on_window: Callable[[int], None] | None = None,
) -> OfflineRun:
    """Replay ``data`` through :class:`ArmModels` directly, by the prequential protocol.

    Parameters
    ----------
    data
        A dataset read by :mod:`producers.datasets`.
    experiment, recommender_of_arm, seed
        The arms, as :class:`ArmModels` takes them; the default experiment and arms when None.
    k
        Slate length.
    window, lookahead
        The windows of :func:`windows`; a window of 1 is the strict protocol.
    on_window
        Called with the number of interactions done after each window (for progress bars).
    """
    arms = ArmModels(experiment or Experiment(), recommender_of_arm, seed=seed)
    interactions = data.interactions
    published: set[str] = set()
    outcomes: list[Outcome] = []
    started = time.perf_counter()

    for taken in windows(interactions, window, lookahead):
        for index in taken:
            item_id = interactions[index].item_id
            if item_id not in published:
                published.add(item_id)
                arms.learn_item(data.items[item_id])

        slates = [arms.recommend(request_for(interactions[index], k)) for index in taken]

        for index, slate in zip(taken, slates, strict=True):
            learnt, outcome = answered(interactions[index], slate)
            arms.learn_event(learnt)
            outcomes.append(outcome)
        if on_window is not None:
            on_window(len(outcomes))

    wall_s = time.perf_counter() - started
    logger.info(
        "offline_replay_finished dataset=%s n_interactions=%d wall_s=%.1f",
        data.name,
        len(outcomes),
        wall_s,
    )
    return OfflineRun(outcomes, wall_s, arms.n_learnt())
