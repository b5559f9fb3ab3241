"""Scenarios for ex13_grad_accumulation: a seed-built model carrying stale gradients, equal-size
micro-batches and a mean-reduction loss, handed to the learner's accumulate_gradients. The report
holds what it returned, the gradients and the parameters it left behind; the check file builds
the same objects with `build` and works out the expected gradients and loss itself."""

from __future__ import annotations

import types
from typing import Any

import torch
from torch import nn

from ..runner import need
from .common import number_report


class SmallNet(nn.Module):
    """Linear-Tanh-Linear: no dropout or batch norm, so each example's loss is independent of
    the others and micro-batching can reproduce the whole batch's gradients exactly."""

    def __init__(self, n_in: int, n_hidden: int, n_out: int) -> None:
        super().__init__()
        self.hidden = nn.Linear(n_in, n_hidden)
        self.out = nn.Linear(n_hidden, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.tanh(self.hidden(x)))  # (B, n_in) -> (B, n_out)


def build(setup: dict[str, Any]) -> tuple[SmallNet, nn.Module, list[tuple[torch.Tensor, ...]]]:
    """Model (with stale gradients on every parameter), loss and micro-batches from a seed.

    setup: seed, loss ("mse" | "cross_entropy"), sizes (n_in, n_hidden, n_out),
    micro_batch_size, n_micro_batches.
    """
    gen = torch.Generator().manual_seed(setup["seed"])
    n_in, n_hidden, n_out = setup["sizes"]
    model = SmallNet(n_in, n_hidden, n_out)
    with torch.no_grad():  # values from the seed, not from the global RNG
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.7)
    for p in model.parameters():  # left over from an earlier step: must not leak in
        p.grad = torch.randn(p.shape, generator=gen)
    size = setup["micro_batch_size"]
    micro_batches = []
    for _ in range(setup["n_micro_batches"]):
        x = torch.randn(size, n_in, generator=gen)  # (b, n_in)
        if setup["loss"] == "mse":
            y = torch.randn(size, n_out, generator=gen)  # (b, n_out)
        else:
            y = torch.randint(n_out, (size,), generator=gen)  # (b,) class ids
        micro_batches.append((x, y))
    loss_fn = nn.MSELoss() if setup["loss"] == "mse" else nn.CrossEntropyLoss()
    return model, loss_fn, micro_batches


def accumulate(module: types.ModuleType, setups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each setup, the learner's accumulate_gradients on freshly built objects, and what it
    returned and left behind."""
    accumulate_gradients = need(module, "accumulate_gradients")
    reports = []
    for setup in setups:
        model, loss_fn, micro_batches = build(setup)
        returned = accumulate_gradients(model, loss_fn, micro_batches)
        reports.append(
            {
                "returned": number_report(returned),
                "grads": {
                    name: None if p.grad is None else p.grad.detach().clone()
                    for name, p in model.named_parameters()
                },
                "params": {name: p.detach().clone() for name, p in model.named_parameters()},
            }
        )
    return reports
