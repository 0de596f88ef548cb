"""The saved-state byte format: round trip, and no pickle on the way back."""

from __future__ import annotations

import io

import numpy as np
import pytest

from models import state as state_codec


def test_round_trip() -> None:
    arrays = {"a": np.arange(3.0), "ids": state_codec.strings(["x", "yy"])}

    header, restored = state_codec.unpack(state_codec.pack({"k": [1, "z"]}, arrays))

    assert header == {"k": [1, "z"]}
    assert restored["a"].tolist() == [0.0, 1.0, 2.0]
    assert state_codec.as_strings(restored["ids"]) == ["x", "yy"]
    assert state_codec.as_strings(state_codec.strings([])) == []


def test_object_arrays_are_refused_on_read() -> None:
    buffer = io.BytesIO()
    header = np.frombuffer(b"{}", dtype=np.uint8)
    np.savez(buffer, __header__=header, bad=np.array([{"a": 1}], dtype=object))

    with pytest.raises(ValueError):
        state_codec.unpack(buffer.getvalue())


def test_reserved_name_is_refused() -> None:
    with pytest.raises(ValueError, match="reserved"):
        state_codec.pack({}, {"__header__": np.zeros(1)})
