"""Scenarios for ex15_evaluation: a seed-built classifier with batch norm and dropout, handed to
the learner's evaluate / predict_proba in train or eval mode. Hooks on its layers record the mode
and grad state of every forward pass, and hooks on the model whether the pass went through
model(x); the report holds those, the return value and the modes left behind. The check file
builds the same model with build_model and works out the answers."""

from __future__ import annotations

import types
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ..runner import need


def build_model(seed: int, sizes: list[int]) -> nn.Sequential:
    """A classifier (in, hidden, classes) whose weights and batch-norm statistics depend only on
    `seed`. Dropout is strong, so train-mode outputs differ clearly from eval-mode ones."""
    d_in, hidden, classes = sizes
    model = nn.Sequential(
        nn.Linear(d_in, hidden),
        nn.BatchNorm1d(hidden),
        nn.ReLU(),
        nn.Dropout(p=0.5),
        nn.Linear(hidden, classes),
    )
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
        norm = model[1]
        norm.running_mean.copy_(torch.randn(hidden, generator=gen))
        norm.running_var.copy_(0.5 + torch.rand(hidden, generator=gen))
    return model


def _watch(model: nn.Module) -> list[dict[str, Any]]:
    """Record every layer's call: its mode, whether grad mode was on, whether its output has a
    graph, and whether it ran inside a call of the model itself. Layer hooks fire however the
    learner calls the model; the model's own hooks fire only for model(x), not model.forward(x)."""
    calls: list[dict[str, Any]] = []
    inside = [0]  # how many calls of the model itself are running

    def enter(model: nn.Module, inputs: Any) -> None:
        inside[0] += 1

    def leave(model: nn.Module, inputs: Any, output: Any) -> None:
        inside[0] -= 1

    def record(layer: nn.Module, inputs: Any, output: Any) -> None:
        calls.append(
            {
                "layer": type(layer).__name__,
                "training": layer.training,
                "grad_enabled": torch.is_grad_enabled(),
                "requires_grad": isinstance(output, torch.Tensor) and output.requires_grad,
                "through_model": inside[0] > 0,
            }
        )

    model.register_forward_pre_hook(enter)
    model.register_forward_hook(leave, always_call=True)
    for layer in model:
        layer.register_forward_hook(record)
    return calls


def _after(model: nn.Module) -> dict[str, Any]:
    """The modes the call left behind (the model's, and grad mode), and any parameters it froze."""
    return {
        "modes": {
            f"model[{name}] ({type(m).__name__})" if name else "model": m.training
            for name, m in model.named_modules()
        },
        "grad_enabled": torch.is_grad_enabled(),
        "frozen": [name for name, p in model.named_parameters() if not p.requires_grad],
    }


def _batches(x: torch.Tensor, y: torch.Tensor, batch_size: int, kind: str) -> Any:
    if kind == "dataloader":
        return DataLoader(TensorDataset(x, y), batch_size=batch_size)
    return list(zip(x.split(batch_size), y.split(batch_size), strict=True))  # (x, y) tuples


def evaluate_cases(
    module: types.ModuleType,
    seed: int,
    sizes: list[int],
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    cases: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """The learner's evaluate on a fresh model per case: case["training"] is the mode the model
    starts in, case["batches"] "list" or "dataloader" (the last batch is short in both)."""
    evaluate = need(module, "evaluate")
    seen = []
    for case in cases:
        model = build_model(seed, sizes).train(case["training"])
        calls = _watch(model)
        value = evaluate(model, _batches(x, y, batch_size, case["batches"]))
        value = value.detach() if type(value) is torch.Tensor else value
        seen.append({"value": value, "calls": calls, **_after(model)})
    return seen


def predict_cases(
    module: types.ModuleType, seed: int, sizes: list[int], x: torch.Tensor, modes: list[bool]
) -> list[dict[str, Any]]:
    """The learner's predict_proba(model, x) on a fresh model per starting mode in `modes`."""
    predict_proba = need(module, "predict_proba")
    seen = []
    for training in modes:
        model = build_model(seed, sizes).train(training)
        calls = _watch(model)
        value = predict_proba(model, x)
        graph = {"requires_grad": False, "grad_fn": False}
        if type(value) is torch.Tensor:
            graph = {"requires_grad": value.requires_grad, "grad_fn": value.grad_fn is not None}
            value = value.detach()
        seen.append({"value": value, "calls": calls, "graph": graph, **_after(model)})
    return seen
