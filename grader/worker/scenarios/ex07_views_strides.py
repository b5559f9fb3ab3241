"""Scenarios for ex07: merge_heads on inputs laid out in memory in different orders.

Contiguity does not survive the trip to the judge (tensors travel as flat data), so the
worker looks at the learner's result and reports its strides.
"""

from __future__ import annotations

import types
from typing import Any

import torch

from ..runner import need


def merge_permuted(module: types.ModuleType, stored: torch.Tensor, dims: list[int]) -> dict:
    """Call merge_heads on stored.permute(*dims): the same values as the judge's, but a
    different memory layout (a strided view, as attention code produces them)."""
    got: Any = need(module, "merge_heads")(stored.permute(*dims))
    if type(got) is not torch.Tensor:
        return {"merged": got}
    return {
        "merged": got.detach().clone(),
        "contiguous": got.is_contiguous(),
        "strides": tuple(got.stride()),
    }
