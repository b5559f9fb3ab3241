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


def type_name(value: Any) -> str:
    """A value's type as the learner would write it: float, torch.Tensor, numpy.ndarray."""
    cls = type(value)
    return (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )


def number_report(value: Any) -> dict[str, Any]:
    """A value that should be a number (a returned loss): its type, its value when it is one
    (a one-element tensor's too), and whether it holds an autograd graph."""
    number = None
    if type(value) in (float, int):
        number = float(value)
    elif type(value) is torch.Tensor and value.numel() == 1:
        number = value.detach().item()
    graph = type(value) is torch.Tensor and value.grad_fn is not None
    return {"type": type_name(value), "value": number, "graph": graph}


def outcome(module: types.ModuleType, run: Callable[[], Any]) -> dict[str, Any]:
    """{"value": what run() returned} or {"raised": the learner's exception, described}, so one
    scenario call can carry many cases and the judge still names the case that raised
    (kit.case_value)."""
    try:
        return {"value": run()}
    except Exception as exc:
        return {"raised": describe_exception(exc, module.__file__ or "")}
