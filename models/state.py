"""The byte format of saved model state: a JSON header and named numpy arrays in one npz file.

:func:`unpack` never unpickles, so decoding a snapshot cannot run code that was planted in it.
The header holds small JSON values (options, counters, random generator states); the arrays
hold everything that grows with users and items. The one pickled object is the hybrid's river
bandit policy, stored as raw bytes and unpickled explicitly by :mod:`models.hybrid`.

Examples
--------
>>> import numpy as np
>>> data = pack({"n_learnt": 3}, {"scores": np.array([0.5, 1.5])})
>>> header, arrays = unpack(data)
>>> header["n_learnt"], arrays["scores"].tolist()
(3, [0.5, 1.5])
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np

__all__ = ["pack", "unpack", "strip_prefix", "strings", "as_strings"]

_HEADER_KEY = "__header__"


def pack(header: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytes:
    """Encode a JSON-compatible header and named arrays as bytes."""
    if _HEADER_KEY in arrays:
        raise ValueError(f"array name {_HEADER_KEY!r} is reserved for the header")

    encoded = np.frombuffer(json.dumps(header, sort_keys=True).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **{_HEADER_KEY: encoded}, **arrays)
    return buffer.getvalue()


def unpack(data: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Decode bytes written by :func:`pack`; object arrays (which need pickle) are refused."""
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}

    header = json.loads(arrays.pop(_HEADER_KEY).tobytes().decode())
    return header, arrays


def strip_prefix(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The arrays whose names start with ``prefix``, with the prefix removed."""
    return {name[len(prefix) :]: value for name, value in arrays.items() if name.startswith(prefix)}


def strings(values: list[str]) -> np.ndarray:
    """Identifiers as a fixed-width unicode array, which npz stores without pickle."""
    return np.array(values, dtype=np.str_) if values else np.zeros(0, dtype="<U1")


def as_strings(array: np.ndarray) -> list[str]:
    """The identifiers stored by :func:`strings`, as Python strings."""
    return [str(value) for value in array.tolist()]
