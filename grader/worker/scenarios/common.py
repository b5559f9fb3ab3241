"""Scenario helpers that several katas share."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import torch

from ..runner import describe_exception, need


def value_and_grad(module: types.ModuleType, name: str, *args: Any, **kwargs: Any) -> dict:
    """Call the learner's `name`, backpropagate from its (scalar or summed) output, and report
    the value and the gradient of every argument that required grad (None where it got none)."""
    result = need(module, name)(*args, **kwargs)
    grads: list[torch.Tensor | None] = [None] * len(args)
    if type(result) is torch.Tensor and result.requires_grad:
        result.sum().backward()
        grads = [a.grad if type(a) is torch.Tensor else None for a in args]
    value = result.detach() if type(result) is torch.Tensor else result
    return {"value": value, "grads": grads}


def outcome(module: types.ModuleType, run: Callable[[], Any]) -> dict[str, Any]:
    """{"value": what run() returned} or {"raised": the learner's exception, described}, so one
    scenario call can carry many cases and the judge still names the case that raised
    (kit.case_value)."""
    try:
        return {"value": run()}
    except Exception as exc:
        return {"raised": describe_exception(exc, module.__file__ or "")}
