"""Scenarios for ex17: pretend GPUs exist, and look at where tensors ended up.

Tensors on the "meta" device have no data to send back, so `moved` and `prepared`
describe the learner's result instead: container kinds, each tensor's device, shape
and dtype, and a model's parameters and buffers. The judge builds the description it
expects itself.
"""

from __future__ import annotations

import types
from typing import Any
from unittest import mock

import torch
from torch import nn

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


def build_model(sizes: list[int]) -> nn.Sequential:
    """A small classifier (in, hidden, classes) with batch norm, whose running statistics and
    step count are buffers: a model with parameters and buffers to move."""
    d_in, hidden, classes = sizes
    return nn.Sequential(
        nn.Linear(d_in, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, classes)
    )


def describe_model(model: nn.Module) -> dict[str, Any]:
    """The model's parameters and buffers by name, each as [type, device, shape, dtype]."""

    def entry(t: torch.Tensor) -> list[Any]:
        return [type(t).__name__, t.device.type, list(t.shape), str(t.dtype)]

    return {
        "parameters": {name: entry(p) for name, p in model.named_parameters()},
        "buffers": {name: entry(b) for name, b in model.named_buffers()},
    }


def prepared(module: types.ModuleType, sizes: list[int], batch: Any, device: Any) -> dict[str, Any]:
    """prepare(model, batch, device) on a fresh model: what it returned, the model it was given
    as it is afterwards, and the returned batch described."""
    model = build_model(sizes)
    result = need(module, "prepare")(model, batch, device)
    pair = type(result) is tuple and len(result) == 2
    return {
        "returned": type(result).__name__,
        "pair": pair,
        "same_model": pair and result[0] is model,
        "model": describe_model(model),
        "batch": describe(result[1]) if pair else None,
    }
