"""Scenarios for ex22_stack_cat_masks: zero_where with the caller's x as the call left it, and
row_max with torch's named tuples turned into plain ones.

A plain call cannot show an in-place change: its arguments are the worker's own copies. And
x.max(dim=-1) returns a torch.return_types.max, a tuple subclass that the wire would only
describe, so a scenario sends its two tensors as a plain tuple. The judge decides everything."""

from __future__ import annotations

import types
from typing import Any

import torch

from ..runner import need
from .common import outcome


def zeroed(module: types.ModuleType, cases: list[tuple[torch.Tensor, torch.Tensor]]) -> list:
    """zero_where(x, mask) for each case, with x as the call left it."""
    zero_where = need(module, "zero_where")
    reports = []
    for x, mask in cases:
        report = outcome(module, lambda x=x, mask=mask: zero_where(x, mask))
        report["x"] = x
        reports.append(report)
    return reports


def _plain(value: Any) -> Any:
    """A tuple subclass (torch.return_types.max, a namedtuple) as a plain tuple."""
    return tuple(value) if isinstance(value, tuple) else value


def maxima(module: types.ModuleType, xs: list[torch.Tensor]) -> list:
    """row_max(x) for each x."""
    row_max = need(module, "row_max")
    return [outcome(module, lambda x=x: _plain(row_max(x))) for x in xs]
