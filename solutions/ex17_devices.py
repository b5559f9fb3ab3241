"""ex17 · Device-agnostic code: reference solution."""

from typing import Any

import torch
from torch import nn


def pick_device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def move_to(obj: Any, device: torch.device | str) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {key: move_to(value, device) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(move_to(value, device) for value in obj)  # a tuple stays a tuple
    return obj  # numbers, strings, None: nothing to move


def prepare(model: nn.Module, batch: Any, device: torch.device | str) -> tuple[nn.Module, Any]:
    model.to(device)  # in place: every parameter and buffer moves, the same module object stays
    return model, move_to(batch, device)  # tensors are copied over: keep the copies
