"""Scenarios for ex16_checkpoints: a seed-built model, AdamW and batches, trained by a trusted
loop here, checkpointed and resumed with the learner's save_checkpoint / load_checkpoint.

The reports hold what the learner's code left behind (parameters, optimizer state, the epoch it
returned, what the checkpoint file holds); the check file rebuilds the same objects with `build`
and `train`, and works out what they should be.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import types
from typing import Any

import torch
from torch import nn

from ..runner import describe_exception, need


class TinyNet(nn.Module):
    """Linear-Tanh-Linear."""

    def __init__(self, n_in: int, n_hidden: int, n_out: int) -> None:
        super().__init__()
        self.hidden = nn.Linear(n_in, n_hidden)
        self.out = nn.Linear(n_hidden, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.tanh(self.hidden(x)))  # (B, n_in) -> (B, n_out)


def build_model(
    setup: dict[str, Any], fresh: bool = False
) -> tuple[TinyNet, list[tuple[torch.Tensor, torch.Tensor]]]:
    """Model and batches from a seed. `fresh`: the same kind of model with other initial
    values, as a restarted program would build it before loading a checkpoint.

    setup: seed, sizes (n_in, n_hidden, n_out), batch_size, n_batches.
    """
    gen = torch.Generator().manual_seed(setup["seed"])
    n_in, n_hidden, n_out = setup["sizes"]
    batches = []
    for _ in range(setup["n_batches"]):
        x = torch.randn(setup["batch_size"], n_in, generator=gen)  # (B, n_in)
        y = torch.randn(setup["batch_size"], n_out, generator=gen)  # (B, n_out)
        batches.append((x, y))
    if fresh:
        gen = torch.Generator().manual_seed(setup["seed"] + 1)
    model = TinyNet(n_in, n_hidden, n_out)
    with torch.no_grad():  # values from the seed, not from the global RNG
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
    return model, batches


def build(
    setup: dict[str, Any], fresh: bool = False
) -> tuple[TinyNet, torch.optim.Optimizer, list[tuple[torch.Tensor, torch.Tensor]]]:
    """build_model's model and batches, and AdamW (setup: lr, weight_decay) on the model."""
    model, batches = build_model(setup, fresh)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=setup["lr"], weight_decay=setup["weight_decay"]
    )
    return model, optimizer, batches


def train(
    model: nn.Module,
    optimizer: Any,  # a torch.optim optimizer, or the judge's replay of one
    batches: list[tuple[torch.Tensor, torch.Tensor]],
    epochs: int,
) -> float:
    """`epochs` passes of plain training over the batches; the last batch's loss."""
    loss = torch.zeros(())
    for _ in range(epochs):
        for x, y in batches:
            optimizer.zero_grad()
            loss = nn.functional.mse_loss(model(x), y)
            loss.backward()
            optimizer.step()
    return loss.item()


def parameters(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def optimizer_state(model: nn.Module, optimizer: Any) -> dict[str, Any]:
    """AdamW's per-parameter state (step, exp_avg, exp_avg_sq), by parameter name."""
    return {
        name: {key: value.clone() for key, value in optimizer.state.get(p, {}).items()}
        for name, p in model.named_parameters()
    }


def _checkpoint_path() -> str:
    return os.path.join(tempfile.mkdtemp(), "checkpoint.pt")


def _plain(value: Any, depth: int = 0) -> Any:
    """What torch.load gave, as plain data: keys as strings, unknown objects by type name."""
    if depth > 20:
        return "<too deep>"
    if isinstance(value, dict):  # state_dict() is an OrderedDict
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, torch.Tensor):  # an nn.Parameter too
        return value.detach()
    if value is None or type(value) in (bool, int, float, str):
        return value
    return f"<{type(value).__module__}.{type(value).__qualname__}>"


def _inspect(path: str) -> dict[str, Any]:
    """Whether the file at `path` exists and loads with weights_only=True, and what it holds."""
    if not os.path.isfile(path):
        return {"exists": False}
    try:
        content = torch.load(path, weights_only=True)
    except Exception as exc:  # the file is not plain tensors and containers
        return {"exists": True, "error": f"{type(exc).__name__}: {exc}"[:4000]}
    return {"exists": True, "error": None, "content": _plain(content)}


def save_and_inspect(module: types.ModuleType, setup: dict[str, Any]) -> dict[str, Any]:
    """Train `before` epochs, save with the learner's save_checkpoint, report what the file
    holds (read back with weights_only=True)."""
    save_checkpoint = need(module, "save_checkpoint")
    model, optimizer, batches = build(setup)
    loss = train(model, optimizer, batches, setup["before"])
    path = _checkpoint_path()
    save_checkpoint(path, model, optimizer, setup["before"] - 1, loss)
    return _inspect(path)


def resume(module: types.ModuleType, setup: dict[str, Any]) -> dict[str, Any]:
    """Train `before` epochs, save, load into a fresh model and optimizer, train `after` more
    epochs. Reports the epoch load_checkpoint returned, the fresh objects' state right after
    loading, and the final parameters."""
    save_checkpoint = need(module, "save_checkpoint")
    load_checkpoint = need(module, "load_checkpoint")
    model, optimizer, batches = build(setup)
    loss = train(model, optimizer, batches, setup["before"])
    path = _checkpoint_path()
    save_checkpoint(path, model, optimizer, setup["before"] - 1, loss)
    fresh_model, fresh_optimizer, _ = build(setup, fresh=True)
    start = load_checkpoint(path, fresh_model, fresh_optimizer)
    restored = {
        "params": parameters(fresh_model),
        "optimizer": optimizer_state(fresh_model, fresh_optimizer),
    }
    train(fresh_model, fresh_optimizer, batches, setup["after"])
    return {"start": start, "restored": restored, "final": parameters(fresh_model)}


def resume_epochs(module: types.ModuleType, setup: dict[str, Any], epochs: list[int]) -> list[Any]:
    """Save after `before` epochs of training with each of `epochs` as the epoch argument, load
    each into fresh objects; what load_checkpoint returned each time."""
    save_checkpoint = need(module, "save_checkpoint")
    load_checkpoint = need(module, "load_checkpoint")
    model, optimizer, batches = build(setup)
    loss = train(model, optimizer, batches, setup["before"])
    starts = []
    for epoch in epochs:
        path = _checkpoint_path()
        save_checkpoint(path, model, optimizer, epoch, loss)
        fresh_model, fresh_optimizer, _ = build(setup, fresh=True)
        starts.append(load_checkpoint(path, fresh_model, fresh_optimizer))
    return starts


class _RunsCode:
    """Unpickling this calls open(path, "w"): a stand-in for any code a file may smuggle in."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return open, (self.path, "w")


def _refused(exc: BaseException | None) -> bool:
    """Whether an UnpicklingError (torch.load refusing the file) is behind `exc`."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, pickle.UnpicklingError):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def load_booby_trapped(module: types.ModuleType, setup: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint that also carries a code-running object, handed to load_checkpoint.
    Reports what it raised (None if nothing) and whether the smuggled code ran."""
    load_checkpoint = need(module, "load_checkpoint")
    model, optimizer, batches = build(setup)
    loss = train(model, optimizer, batches, 1)
    folder = tempfile.mkdtemp()
    sentinel = os.path.join(folder, "the-code-ran")
    path = os.path.join(folder, "checkpoint.pt")
    checkpoint = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "epoch": 0,
        "loss": loss,
        "note": _RunsCode(sentinel),
    }
    torch.save(checkpoint, path)
    fresh_model, fresh_optimizer, _ = build(setup, fresh=True)
    error = None
    try:
        load_checkpoint(path, fresh_model, fresh_optimizer)
    except Exception as exc:
        error = {"refused": _refused(exc), **describe_exception(exc, module.__file__)}
    return {"error": error, "code_ran": os.path.exists(sentinel)}
