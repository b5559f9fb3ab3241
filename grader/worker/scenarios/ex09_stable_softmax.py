"""Scenarios for ex09_stable_softmax: the learner's values and the gradients they carry."""

from __future__ import annotations

import types
from typing import Any

import torch

from ..runner import need
from .common import value_and_grad  # noqa: F401  (logsumexp: sum of the output backpropagates)


def weighted_backward(
    module: types.ModuleType, name: str, x: torch.Tensor, weights: torch.Tensor, **kwargs: Any
) -> dict:
    """Call the learner's `name` on x, backpropagate (result * weights).sum() and report the
    value and x.grad. (Backpropagating a plain sum of softmax gives zero: each slice sums to 1.)
    The gradient is None where the result is not a tensor of weights' shape or has no graph."""
    result = need(module, name)(x, **kwargs)
    grad = None
    if type(result) is torch.Tensor and result.requires_grad and result.shape == weights.shape:
        (result * weights).sum().backward()
        grad = x.grad
    value = result.detach() if type(result) is torch.Tensor else result
    return {"value": value, "grad": grad}
