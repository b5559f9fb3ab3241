"""Scenarios for ex17: pretend GPUs exist, and look at where tensors ended up.

Tensors on the "meta" device have no data to send back, so `moved` describes
the learner's result instead: container kinds, and each tensor's device, shape
and dtype. The judge builds the description it expects itself.
"""

from __future__ import annotations

import types
from typing import Any
from unittest import mock

import torch

from ..runner import need


def picks(module: types.ModuleType, cases: list[tuple[bool, bool]]) -> list[Any]:
    """pick_device() with torch told that cuda / mps are (or are not) available."""
    pick_device = need(module, "pick_device")
    answers = []
    for cuda, mps in cases:
        with (
            mock.patch.object(torch.cuda, "is_available", lambda cuda=cuda: cuda),
            mock.patch.object(torch.backends.mps, "is_available", lambda mps=mps: mps),
        ):
            answers.append(pick_device())
    return answers


def describe(obj: Any) -> Any:
    """The structure of obj as plain data, tensors by device, shape and dtype."""
    if type(obj) is torch.Tensor:
        return ["tensor", obj.device.type, list(obj.shape), str(obj.dtype)]
    if type(obj) in (list, tuple):
        return [type(obj).__name__, [describe(v) for v in obj]]
    if type(obj) is dict:
        return ["dict", [[repr(k), describe(v)] for k, v in obj.items()]]
    return ["value", type(obj).__name__, repr(obj)[:100]]


def moved(module: types.ModuleType, obj: Any, device: Any) -> Any:
    """Describe move_to(obj, device)."""
    return describe(need(module, "move_to")(obj, device))
