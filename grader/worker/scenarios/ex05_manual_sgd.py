"""Scenarios for ex05_manual_sgd: leaf parameters with gradients, handed to the learner's code.

The scenarios only observe: the judge compares the observations with torch.optim.SGD.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import torch

from ..runner import need


def leaves(values: list[torch.Tensor], grads: list[torch.Tensor | None]) -> list[torch.Tensor]:
    """Fresh leaf tensors that require grad, holding `values`, with .grad set from `grads`."""
    params = []
    for value, grad in zip(values, grads, strict=True):
        p = value.detach().clone().requires_grad_(True)
        if grad is not None:
            p.grad = grad.detach().clone()
        params.append(p)
    return params


def _observe(params: list[torch.Tensor], memory: list[int]) -> dict[str, Any]:
    return {
        "values": [p.detach().clone() for p in params],
        "grads": [None if p.grad is None else p.grad.detach().clone() for p in params],
        "same_memory": [p.data_ptr() == before for p, before in zip(params, memory, strict=True)],
        "leaf": [p.is_leaf and p.grad_fn is None for p in params],
        "requires_grad": [p.requires_grad for p in params],
    }


def step_params(
    module: types.ModuleType,
    values: list[torch.Tensor],
    grads: list[torch.Tensor | None],
    lr: float,
    weight_decay: float | None = None,
    as_list: bool = False,
) -> dict[str, Any]:
    """The learner's sgd_step on leaf params, given as a one-shot generator (or a list).
    weight_decay None: the learner's default is used."""
    sgd_step = need(module, "sgd_step")
    params = leaves(values, grads)
    memory = [p.data_ptr() for p in params]
    given = list(params) if as_list else (p for p in params)
    if weight_decay is None:
        sgd_step(given, lr)
    else:
        sgd_step(given, lr, weight_decay=weight_decay)
    return _observe(params, memory)


def clear_grads(
    module: types.ModuleType, values: list[torch.Tensor], grads: list[torch.Tensor | None]
) -> dict[str, Any]:
    """The learner's zero_grad on leaf params, given as a one-shot generator."""
    zero_grad = need(module, "zero_grad")
    params = leaves(values, grads)
    memory = [p.data_ptr() for p in params]
    zero_grad(p for p in params)
    return _observe(params, memory)


def fit_line_counted(
    module: types.ModuleType, x: torch.Tensor, y: torch.Tensor, lr: float, steps: int
) -> dict[str, Any]:
    """The learner's fit_line, counting its calls to the learner's sgd_step and zero_grad."""
    fit_line = need(module, "fit_line")
    calls = {"sgd_step": 0, "zero_grad": 0}

    def counted(name: str) -> Callable[..., Any]:
        original = need(module, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return original(*args, **kwargs)

        return wrapper

    for name in calls:  # fit_line looks them up in its module's globals at call time
        setattr(module, name, counted(name))
    result = fit_line(x, y, lr=lr, steps=steps)
    return {"result": result, "calls": calls}
