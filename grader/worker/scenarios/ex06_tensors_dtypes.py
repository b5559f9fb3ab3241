"""Scenarios for ex06: does the learner's tensor share memory with a numpy array?"""

from __future__ import annotations

import types
from typing import Any

import numpy as np
import torch

from ..runner import need


def build_array(seed: int, shape: list[int], dtype: str) -> np.ndarray:
    """A C-contiguous array of small random values; the judge builds the same one."""
    values = np.random.default_rng(seed).integers(-200, 200, size=shape)
    if np.dtype(dtype).kind == "f":
        values = values / 4  # quarters: exact in every float dtype
    return values.astype(dtype)


def watch_shared(module: types.ModuleType, seed: int, shape: list[int], dtype: str) -> dict:
    """Call from_numpy_shared on a fresh array, then change the array in place and look again."""
    arr = build_array(seed, shape, dtype)
    got: Any = need(module, "from_numpy_shared")(arr)
    if type(got) is not torch.Tensor:
        return {"value": got}
    before = got.detach().clone()
    arr += 1  # in place: a tensor on the same memory sees it
    return {"value": before, "after_array_changed": got.detach().clone()}
