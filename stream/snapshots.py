"""Snapshots of the worker's learned state, stored with the input offsets they reflect.

A snapshot is one zip file: ``manifest.json`` (format version, experiment, offsets, counts),
``catalog.bin`` and one ``arm-<name>.bin`` per arm, each the recommender's own ``to_state``
bytes. It is written to a temporary file in the same folder, flushed to disk and renamed over
the previous one, so a crash mid-write leaves the previous snapshot whole.

On start the worker restores the snapshot and replays its inputs from the offsets after the
ones recorded; messages at or below them are skipped, so nothing is learnt twice and nothing
acknowledged is lost.

NOTE: the hybrid arm's state holds a pickled river bandit policy (river has no other export),
so loading a snapshot can run code written into it. Snapshots are the worker's own files:
never load one from a place others can write to.
"""

from __future__ import annotations

import json
import logging
import os
import time
import zipfile
from pathlib import Path

from models.base import Recommender
from models.catalog import Catalog
from models.registry import build_recommender
from stream.arms import ArmModels
from stream.assignment import Experiment

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
FILE_NAME = "arms.snapshot.zip"


class SnapshotError(RuntimeError):
    """A snapshot exists but cannot be used for this worker."""


def save(arms: ArmModels, folder: Path) -> Path:
    """Write the state of every arm and its offsets atomically; return the file's path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / FILE_NAME
    temporary = folder / f".{FILE_NAME}.{os.getpid()}.tmp"
    started = time.perf_counter()

    manifest = {
        "format_version": FORMAT_VERSION,
        "salt": arms.experiment.salt,
        "arms": list(arms.experiment.arms),
        "weights": list(arms.experiment.weights),
        "recommender_of_arm": arms.recommender_of_arm,
        "offsets": [
            [topic, partition, offset]
            for (topic, partition), offset in sorted(arms.offsets.items())
        ],
        "n_learnt": arms.n_learnt(),
        "n_items": arms.catalog.n_items,
    }
    with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("manifest.json", json.dumps(manifest, indent=1))
        archive.writestr("catalog.bin", arms.catalog.to_state())
        for arm, recommender in arms.recommenders.items():
            archive.writestr(f"arm-{arm}.bin", recommender.to_state())

    _make_durable(temporary, path)
    logger.info(
        "snapshot_written path=%s n_items=%d n_learnt=%s seconds=%.3f",
        path,
        arms.catalog.n_items,
        manifest["n_learnt"],
        time.perf_counter() - started,
    )
    return path


def load(folder: Path, experiment: Experiment) -> ArmModels | None:
    """Restore the arms from the snapshot in ``folder``, or None when there is none.

    Raises :class:`SnapshotError` when the snapshot belongs to another experiment (other salt
    or arms): serving those users from it would mix experiments.
    """
    path = folder / FILE_NAME
    if not path.exists():
        return None

    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        _check(manifest, experiment, path)
        catalog = Catalog.from_state(archive.read("catalog.bin"))
        recommenders = {
            arm: _restore(name, archive.read(f"arm-{arm}.bin"), catalog)
            for arm, name in manifest["recommender_of_arm"].items()
            if arm in experiment.arms
        }

    offsets = {(topic, partition): offset for topic, partition, offset in manifest["offsets"]}
    arms = ArmModels.restored(experiment, catalog, recommenders, offsets)
    logger.info(
        "snapshot_restored path=%s n_items=%d n_learnt=%s", path, catalog.n_items, arms.n_learnt()
    )
    return arms


def _restore(name: str, state: bytes, catalog: Catalog) -> Recommender:
    """Rebuild one recommender of the registry from its state bytes."""
    kind = type(build_recommender(name, Catalog()))
    return kind.from_state(state, catalog)


def _check(manifest: dict, experiment: Experiment, path: Path) -> None:
    if manifest.get("format_version") != FORMAT_VERSION:
        raise SnapshotError(
            f"{path} has format {manifest.get('format_version')}, this worker reads "
            f"{FORMAT_VERSION}; move it away to start from empty models"
        )
    if manifest["salt"] != experiment.salt or manifest["arms"] != list(experiment.arms):
        raise SnapshotError(
            f"{path} belongs to experiment salt={manifest['salt']!r} arms={manifest['arms']}, "
            f"not salt={experiment.salt!r} arms={list(experiment.arms)}; use another --state-dir"
        )


def _make_durable(temporary: Path, path: Path) -> None:
    """Flush the finished file to disk, rename it into place and flush the folder entry."""
    with open(temporary, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, path)

    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
