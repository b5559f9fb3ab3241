"""ex08 · Autograd and the chain rule: reference solution."""

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn


def derivative(f: Callable[[Tensor], Tensor], x: float) -> float:
    x_leaf = torch.tensor(x, dtype=torch.float64, requires_grad=True)  # () leaf to differentiate
    f(x_leaf).backward()
    return x_leaf.grad.item()


def graph_grads(a: float, b: float) -> tuple[float, float]:
    c = a * b
    d = c + a
    dL_dd = 2 * d  # L = d**2
    dL_dc = dL_dd  # d = c + a: dd/dc = 1
    dL_da = dL_dc * b + dL_dd  # a fans out: via c (dc/da = b) plus directly into d (dd/da = 1)
    dL_db = dL_dc * a  # dc/db = a
    return dL_da, dL_db


def intermediate_grad(a: float, b: float) -> float:
    a_t = torch.tensor(a, requires_grad=True)
    b_t = torch.tensor(b, requires_grad=True)
    c = a_t * b_t
    c.retain_grad()  # c is not a leaf: without this, backward() drops its gradient
    loss = (c + a_t) ** 2
    loss.backward()
    return c.grad.item()


def grad_norm(model: nn.Module) -> float:
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    # one long vector: sqrt of the sum of all squared entries, not a sum of per-tensor norms
    return math.sqrt(sum(g.double().square().sum().item() for g in grads))
