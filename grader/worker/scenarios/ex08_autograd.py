"""Scenarios for ex08_autograd: functions to differentiate, a model with gradients, and a count
of autograd's backward passes (graph_grads must run none; derivative and intermediate_grad must
run at least one). The judge works out every expected value itself."""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn
from torch.autograd.variable import Variable

from ..runner import need

# The functions handed to the learner's derivative, by name (the judge knows them by the same)
FUNCTIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "cube": lambda x: x**3,
    "x_sin_x": lambda x: x * torch.sin(x),
    "tanh": torch.tanh,
    "gaussian": lambda x: torch.exp(-(x**2) / 2),
}


class _CountingEngine:
    """Stands in for autograd's engine and counts backward passes. Tensor.backward,
    torch.autograd.backward / grad, torch.func and torch.autograd.functional all end in
    Variable._execution_engine.run_backward; backward is not an aten operator, so the dispatch
    mode behind kit.Forbidden cannot tell it from forward arithmetic."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.runs = 0

    def run_backward(self, *args: Any, **kwargs: Any) -> Any:
        self.runs += 1
        return self.engine.run_backward(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)


@contextmanager
def _counting_backward_passes() -> Iterator[_CountingEngine]:
    engine = _CountingEngine(Variable._execution_engine)
    Variable._execution_engine = engine
    try:
        yield engine
    finally:
        Variable._execution_engine = engine.engine


def watched_call(module: types.ModuleType, name: str, *args: Any) -> dict[str, Any]:
    """The learner's `name`(*args), and how many backward passes autograd ran meanwhile."""
    function = need(module, name)
    with _counting_backward_passes() as engine:
        value = function(*args)
    return {"value": value, "backward_passes": engine.runs}


def derivatives(module: types.ModuleType, xs: dict[str, float]) -> dict[str, Any]:
    """The learner's derivative of FUNCTIONS[name] at xs[name] for each name, with the backward
    passes each ran. One job for all: torch.func's first use imports for seconds."""
    derivative = need(module, "derivative")
    values, passes = {}, {}
    for name, x in xs.items():
        with _counting_backward_passes() as engine:
            values[name] = derivative(FUNCTIONS[name], x)
        passes[name] = engine.runs
    return {"values": values, "backward_passes": passes}


class GappyNet(nn.Module):
    """A small net where some gradients stay None: an unused head and a frozen bias."""

    def __init__(self, d_in: int, hidden: int, d_out: int) -> None:
        super().__init__()
        self.body = nn.Linear(d_in, hidden)
        self.head = nn.Linear(hidden, d_out)
        self.spare_head = nn.Linear(hidden, d_out)  # never called in forward
        self.gain = nn.Parameter(torch.ones(d_out))
        self.body.bias.requires_grad_(False)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(torch.tanh(self.body(x))) * self.gain  # (B, d_out)


def model_with_grads(seed: int) -> GappyNet:
    """A GappyNet with random sizes and weights after one backward pass, the same for a seed."""
    gen = torch.Generator().manual_seed(seed)
    d_in, hidden, d_out, batch = (int(n) for n in torch.randint(2, 10, (4,), generator=gen))
    model = GappyNet(d_in, hidden, d_out)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
    x = torch.randn(batch, d_in, generator=gen)
    model(x).square().mean().backward()
    return model


def grad_norm_of(module: types.ModuleType, seed: int) -> dict[str, Any]:
    """The learner's grad_norm of model_with_grads(seed), and the gradients left afterwards."""
    model = model_with_grads(seed)
    value = need(module, "grad_norm")(model)
    grads = {name: p.grad for name, p in model.named_parameters()}
    return {"value": value, "grads_after": grads}
