"""Deterministic assignment of users to experiment arms by a salted hash of the user id.

The same salt, weights and user id give the same arm in every process, on every machine and
after every restart: the hash is BLAKE2b, not Python's per-process ``hash``. Changing the salt
reshuffles every user, which is how a new experiment starts from a clean split.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from dataclasses import dataclass, field
from itertools import accumulate

#: Hash buckets; weights are resolved to a whole number of buckets.
N_BUCKETS = 10_000

DEFAULT_ARMS = ("A", "B", "C", "D", "E")


@dataclass(frozen=True)
class Experiment:
    """An experiment: its salt, its arms and the share of users each arm gets.

    Parameters
    ----------
    salt
        Mixed into the hash so that different experiments split users independently.
    arms
        Arm names; the first is the control.
    weights
        Relative shares, any scale; equal shares by default.

    Examples
    --------
    >>> experiment = Experiment(salt="spring", arms=("A", "B"), weights=(1, 3))
    >>> experiment.arm_of("u00042") == experiment.arm_of("u00042")
    True
    >>> experiment.shares()
    {'A': 0.25, 'B': 0.75}
    """

    salt: str = "streamrec-2026"
    arms: tuple[str, ...] = DEFAULT_ARMS
    weights: tuple[float, ...] = ()
    _bounds: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        weights = self.weights or (1.0,) * len(self.arms)
        if len(weights) != len(self.arms):
            raise ValueError(f"{len(self.arms)} arms but {len(weights)} weights")
        if any(weight < 0 for weight in weights) or sum(weights) <= 0:
            raise ValueError(f"weights must be non-negative with a positive sum, got {weights}")
        if len(set(self.arms)) != len(self.arms):
            raise ValueError(f"arm names must be unique, got {self.arms}")

        total = sum(weights)
        bounds = tuple(round(N_BUCKETS * share / total) for share in accumulate(weights))
        object.__setattr__(self, "weights", tuple(float(weight) for weight in weights))
        object.__setattr__(self, "_bounds", bounds)

    @property
    def control(self) -> str:
        """The control arm, against which the others are compared."""
        return self.arms[0]

    def bucket_of(self, user_id: str) -> int:
        """The user's hash bucket in ``[0, N_BUCKETS)``."""
        digest = hashlib.blake2b(f"{self.salt}:{user_id}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") % N_BUCKETS

    def arm_of(self, user_id: str) -> str:
        """The arm the user belongs to."""
        index = bisect_right(self._bounds, self.bucket_of(user_id))
        return self.arms[min(index, len(self.arms) - 1)]

    def shares(self) -> dict[str, float]:
        """Each arm's intended share of users, summing to 1."""
        total = sum(self.weights)
        return {arm: weight / total for arm, weight in zip(self.arms, self.weights, strict=True)}
