"""ex04 scenarios: build a model, an optimizer and batches from a seed, run the learner's
train() on them, and report what happened as plain data.

The judge builds the very same model and batches with `build_model`, replays the optimizer's
arithmetic itself and decides what the report means.
"""

from __future__ import annotations

import types
from typing import Any

import torch
from torch import nn

from ..runner import need
from .common import number_report, type_name

# each optimizer's options besides lr; the judge replays the same update (grader.replay)
OPTIMIZERS: dict[str, dict[str, Any]] = {
    "sgd": {},
    "momentum": {"momentum": 0.9},
    "adamw": {"weight_decay": 0.1},
}


class ModeRecordingNet(nn.Module):
    """Linear-Tanh-Linear that notes, at every forward, whether it was in training mode."""

    def __init__(self, n_in: int, n_hidden: int, n_out: int) -> None:
        super().__init__()
        self.hidden = nn.Linear(n_in, n_hidden)
        self.out = nn.Linear(n_hidden, n_out)
        self.modes_seen: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.modes_seen.append(self.training)
        return self.out(torch.tanh(self.hidden(x)))  # (B, n_in) -> (B, n_out)


def _optimizer(name: str, params: Any, lr: float) -> torch.optim.Optimizer:
    kind = torch.optim.AdamW if name == "adamw" else torch.optim.SGD
    return kind(params, lr=lr, **OPTIMIZERS[name])


def build_model(setup: dict[str, Any]) -> tuple[ModeRecordingNet, Any, list]:
    """Model (in eval mode, with stale gradients on every parameter), loss and batches.

    setup: seed, loss ("mse" | "cross_entropy"), sizes (n_in, n_hidden, n_out), batch_size,
    n_batches.
    """
    gen = torch.Generator().manual_seed(setup["seed"])
    n_in, n_hidden, n_out = setup["sizes"]
    model = ModeRecordingNet(n_in, n_hidden, n_out)
    with torch.no_grad():  # values from the seed, not from the global RNG
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
    for p in model.parameters():  # left over from earlier work: must not reach the first step
        p.grad = torch.randn(p.shape, generator=gen)
    model.eval()  # e.g. after an evaluation: train() has to switch it back
    batches = []
    for _ in range(setup["n_batches"]):
        x = torch.randn(setup["batch_size"], n_in, generator=gen)  # (B, n_in)
        if setup["loss"] == "mse":
            y = torch.randn(setup["batch_size"], n_out, generator=gen)  # (B, n_out)
        else:
            y = torch.randint(n_out, (setup["batch_size"],), generator=gen)  # (B,) class ids
        batches.append((x, y))
    loss_fn = nn.MSELoss() if setup["loss"] == "mse" else nn.CrossEntropyLoss()
    return model, loss_fn, batches


def build(setup: dict[str, Any]) -> tuple[ModeRecordingNet, torch.optim.Optimizer, Any, list]:
    """build_model's objects and the setup's optimizer ("sgd" | "momentum" | "adamw", lr)."""
    model, loss_fn, batches = build_model(setup)
    optimizer = _optimizer(setup["optimizer"], model.parameters(), setup["lr"])
    return model, optimizer, loss_fn, batches


def train_once(module: types.ModuleType, setup: dict[str, Any]) -> dict[str, Any]:
    """Call the learner's train() once; report the losses, parameters, gradients and modes."""
    train = need(module, "train")
    model, optimizer, loss_fn, batches = build(setup)
    if "epochs" in setup:
        returned = train(model, optimizer, loss_fn, batches, epochs=setup["epochs"])
    else:
        returned = train(model, optimizer, loss_fn, batches)  # the default: one epoch
    is_sequence = type(returned) in (list, tuple)
    return {
        "returned": type_name(returned),
        "losses": [number_report(item) for item in returned] if is_sequence else None,
        "modes": list(model.modes_seen),
        "params": {name: p.detach().clone() for name, p in model.named_parameters()},
        "grads": {
            name: None if p.grad is None else p.grad.detach().clone()
            for name, p in model.named_parameters()
        },
    }
