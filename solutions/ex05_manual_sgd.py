"""ex05 · Manual SGD under no_grad: reference solution."""

from collections.abc import Iterable

import torch
from torch import Tensor


def sgd_step(params: Iterable[Tensor], lr: float, weight_decay: float = 0.0) -> None:
    with torch.no_grad():  # the step is not part of the graph: params stay leaves
        for p in params:  # a one-shot generator is fine: one pass
            if p.grad is None:  # no gradient this time: leave p alone
                continue
            p -= lr * (p.grad + weight_decay * p)  # in place: the model sees it


def zero_grad(params: Iterable[Tensor]) -> None:
    for p in params:
        p.grad = None


def fit_line(x: Tensor, y: Tensor, lr: float = 0.1, steps: int = 200) -> tuple[float, float]:
    w = torch.zeros((), dtype=x.dtype, requires_grad=True)
    b = torch.zeros((), dtype=x.dtype, requires_grad=True)
    for _ in range(steps):
        loss = ((w * x + b - y) ** 2).mean()  # (N,) -> ()
        loss.backward()
        sgd_step([w, b], lr)
        zero_grad([w, b])  # backward accumulates: clear before the next one
    return w.item(), b.item()
