"""Scenarios for ex10_causal_mask: where a mask is made, the caller's scores after the call,
and gradients."""

from __future__ import annotations

import types
from typing import Any

import torch

from ..runner import need


def mask_on_device(module: types.ModuleType, T: int, *args: Any, **kwargs: Any) -> dict:
    """causal_mask(T, ...) and the device it was made on (tensors reach the judge on the CPU,
    whatever device they left from)."""
    mask = need(module, "causal_mask")(T, *args, **kwargs)
    device = str(mask.device) if type(mask) is torch.Tensor else None
    return {"mask": mask, "device": device}


def mask_made_on(module: types.ModuleType, T: int, *args: Any, **kwargs: Any) -> dict:
    """What causal_mask(T, ...) made, without its values: a mask on the "meta" device has a
    shape, a dtype and a device but no data, so it cannot travel to the judge as a tensor."""
    mask = need(module, "causal_mask")(T, *args, **kwargs)
    if type(mask) is not torch.Tensor:
        return {"type": type(mask).__name__, "device": None, "dtype": None, "shape": None}
    return {
        "type": "Tensor",
        "device": mask.device.type,
        "dtype": str(mask.dtype).removeprefix("torch."),
        "shape": list(mask.shape),
    }


def scores_after_call(module: types.ModuleType, scores: torch.Tensor) -> dict:
    """The learner's weights, and the caller's scores as the call left them."""
    weights = need(module, "masked_attention")(scores)
    if type(weights) is torch.Tensor:
        weights = weights.detach().clone()  # a view of scores must not change with it
    return {"weights": weights, "scores": scores}


def weighted_backward(
    module: types.ModuleType, scores: torch.Tensor, upstream: torch.Tensor
) -> dict:
    """Backpropagate (weights * upstream).sum() from the learner's weights; report the weights
    and scores.grad (None where no graph reached scores). A plain sum would give zero: every
    row of weights sums to 1."""
    weights = need(module, "masked_attention")(scores)
    if type(weights) is not torch.Tensor:
        return {"weights": weights, "grad": None}
    if weights.requires_grad and weights.shape == upstream.shape:
        (weights * upstream).sum().backward()
    return {"weights": weights.detach(), "grad": scores.grad}
