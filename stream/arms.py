"""The worker's learned state: one recommender per experiment arm over one shared catalog.

:class:`ArmModels` is where contract events meet the recommenders of ``models/``: it converts
events into the recommenders' records, routes each user's events to that user's arm only (each
arm is a closed world) and turns a slate into the exposure record that is published. It knows
nothing of Kafka or Faust, so it is tested and benchmarked without a broker.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from models.base import Context, Feedback, ItemInfo, Recommender
from models.catalog import Catalog
from models.registry import ARM_RECOMMENDERS, build_recommender
from stream.assignment import Experiment
from stream.events import CatalogItem, Interaction, Recommendation, RecRequest, SlateItem

logger = logging.getLogger(__name__)

#: Category and brand of an item known only from its events.
UNKNOWN = "unknown"

#: A Kafka position: (topic, partition).
Position = tuple[str, int]


class ArmModels:
    """The recommenders of every arm of an experiment, and the input offsets they reflect.

    Parameters
    ----------
    experiment
        Which arm each user belongs to.
    recommender_of_arm
        The recommender each arm runs, by registry name; DESIGN's five arms by default.
    seed
        Seed of the recommenders' random choices.

    Attributes
    ----------
    catalog
        The catalog every arm reads. It is not learnt, so the arms share it.
    offsets
        For each (topic, partition), the offset of the last message applied to the state.
        A restored state skips messages at or below these offsets, so replaying input after a
        restart never learns an event twice.
    """

    def __init__(
        self,
        experiment: Experiment,
        recommender_of_arm: Mapping[str, str] | None = None,
        seed: int = 0,
    ) -> None:
        self.experiment = experiment
        self.catalog = Catalog()
        self.recommender_of_arm = dict(recommender_of_arm or ARM_RECOMMENDERS)
        missing = set(experiment.arms) - set(self.recommender_of_arm)
        if missing:
            raise ValueError(f"no recommender configured for arms {sorted(missing)}")

        self.recommenders: dict[str, Recommender] = {
            arm: build_recommender(self.recommender_of_arm[arm], self.catalog, seed=seed)
            for arm in experiment.arms
        }
        self.offsets: dict[Position, int] = {}

    @classmethod
    def restored(
        cls,
        experiment: Experiment,
        catalog: Catalog,
        recommenders: dict[str, Recommender],
        offsets: dict[Position, int],
    ) -> ArmModels:
        """Arms rebuilt from saved parts (see :mod:`stream.snapshots`)."""
        arms = cls.__new__(cls)
        arms.experiment = experiment
        arms.catalog = catalog
        arms.recommender_of_arm = {arm: model.name for arm, model in recommenders.items()}
        arms.recommenders = recommenders
        arms.offsets = dict(offsets)
        return arms

    def seen(self, position: Position, offset: int | None) -> bool:
        """Whether the message at ``offset`` is already part of the state."""
        if offset is None:
            return False
        return offset <= self.offsets.get(position, -1)

    def mark(self, position: Position, offset: int | None) -> None:
        """Record that the message at ``offset`` is now part of the state."""
        if offset is not None:
            self.offsets[position] = max(offset, self.offsets.get(position, -1))

    def learn_item(self, item: CatalogItem) -> None:
        """Add a catalog item or update its stock and price."""
        self.catalog.upsert(
            ItemInfo(
                item_id=item.item_id,
                category=item.category,
                brand=item.brand,
                price=item.price,
                price_tier=item.price_tier,
                stock=item.stock,
                tags=tuple(item.tags),
            )
        )

    def learn_event(self, event: Interaction) -> str:
        """Teach the event to the recommender of its user's arm; return that arm.

        The arm comes from the hash, not from the event's ``arm`` field: organic events carry
        none, and a producer's claim about the arm is not trusted to keep arms apart.
        """
        arm = self.experiment.arm_of(event.user_id)
        if self.catalog.index_of(event.item_id) is None:
            self._add_placeholder(event)
        feedback = Feedback(
            user_id=event.user_id,
            item_id=event.item_id,
            kind=event.event_type,
            at=event.event_at.timestamp(),
            request_id=event.request_id,
            position=event.position,
            price=event.price or 0.0,
            quantity=event.quantity or 1,
        )
        self.recommenders[arm].learn(feedback)
        return arm

    def _add_placeholder(self, event: Interaction) -> None:
        """Make an item known from its first event, before (or without) its catalog record.

        The catalog and the events arrive on different topics, so an event can overtake its
        item's record; replayed datasets may have no record at all. Without a placeholder the
        event would teach nothing. With no stock, the placeholder is never recommended until a
        catalog record brings its stock and attributes.
        """
        self.catalog.upsert(
            ItemInfo(
                item_id=event.item_id,
                category=UNKNOWN,
                brand=UNKNOWN,
                price=event.price or 0.0,
                price_tier=0,
                stock=0,
            )
        )

    def recommend(self, request: RecRequest) -> Recommendation:
        """Answer a request with the slate of the user's arm, as the exposure record."""
        arm = self.experiment.arm_of(request.user_id)
        recommender = self.recommenders[arm]
        context = Context(
            user_id=request.user_id,
            k=request.k,
            at=request.requested_at.timestamp(),
            context_item_id=request.context_item_id,
            context_category=request.context_category,
            request_id=request.request_id,
        )

        slate = [
            SlateItem(
                item_id=scored.item_id,
                position=position,
                score=float(scored.score),
                source=scored.source,
                source_probability=min(1.0, max(0.0, float(scored.source_probability))),
            )
            for position, scored in enumerate(recommender.recommend(context))
        ]
        return Recommendation(
            request_id=request.request_id,
            user_id=request.user_id,
            session_id=request.session_id,
            arm=arm,
            model_version=f"{recommender.name}@{recommender.n_learnt}",
            slate=slate,
            requested_at=request.requested_at,
            # NOTE: served at the request's own time, not the wall clock: simulated and
            # replayed requests run on clocks of their own, and mixing the two time lines would
            # make exposure times meaningless. Live traffic would want the wall clock here.
            served_at=request.requested_at,
        )

    def n_learnt(self) -> dict[str, int]:
        """Events learnt by each arm's recommender."""
        return {arm: recommender.n_learnt for arm, recommender in self.recommenders.items()}
