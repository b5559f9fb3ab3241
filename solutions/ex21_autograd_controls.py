"""ex21 · Autograd controls: reference solution."""

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn


def vjp(f: Callable[[Tensor], Tensor], x: Tensor, v: Tensor) -> Tensor:
    x = x.detach().requires_grad_(True)  # a leaf of our own: the caller's x is left alone
    y = f(x)  # any shape; v has the same
    (grad,) = torch.autograd.grad(y, x, grad_outputs=v)  # returned, not stored in .grad
    return grad  # shaped like x


def grad_twice(f: Callable[[Tensor], Tensor], x: Tensor) -> tuple[Tensor, Tensor]:
    loss = f(x).sum()  # () one graph, walked twice
    loss.backward(retain_graph=True)  # keep the saved tensors for the second pass
    first = x.grad.clone()  # a snapshot: the next backward adds into x.grad in place
    loss.backward()
    return first, x.grad


def bootstrap_loss(
    model: nn.Module, x: Tensor, x_next: Tensor, reward: Tensor, gamma: float
) -> Tensor:
    target = (reward + gamma * model(x_next)).detach()  # (B,) a constant: no gradient through it
    return ((model(x) - target) ** 2).mean()  # ()


def freeze(model: nn.Module, prefixes: Sequence[str]) -> list[nn.Parameter]:
    prefixes = tuple(prefixes)  # str.startswith takes a tuple of choices, not a list
    for name, p in model.named_parameters():
        if name.startswith(prefixes):
            p.requires_grad_(False)  # the model's own parameter, not a copy
    return [p for p in model.parameters() if p.requires_grad]


def to_numpy(t: Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()  # out of the graph, onto the CPU, then numpy's view of it
