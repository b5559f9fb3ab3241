"""Scenarios for ex23_fit: a seed-built classifier with batch norm and dropout (handed over in
eval mode), a torch.optim optimizer, cross-entropy and two DataLoaders whose last batches are
short, given to the learner's fit.

Hooks note, for every forward pass, which loader's batch it ran on, the modes of the dropout and
batch-norm layers and whether grad mode was on; a step hook notes during which phase the optimizer
stepped. The report holds those, what fit returned, the model's final state and the modes left
behind. The check file rebuilds the same objects with `build_model` and runs its own reference fit.

Nothing here draws from torch's global RNG: the dropout layer and both loaders have their own
generators, seeded from the setup, so the judge's run sees the very same masks and orders
whatever else the learner's code or the worker drew before.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset, default_collate

from ..runner import need

# each optimizer's options besides lr; the judge replays the same update (grader.replay)
OPTIMIZERS: dict[str, dict[str, Any]] = {
    "momentum": {"momentum": 0.9},
    "adamw": {"weight_decay": 0.05},
}


class SeededDropout(nn.Dropout):
    """nn.Dropout whose masks come from its own generator: the same masks, in the same order,
    in the worker and in the judge."""

    def __init__(self, p: float, seed: int) -> None:
        super().__init__(p)
        self.generator = torch.Generator().manual_seed(seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        keep = torch.rand(x.shape, generator=self.generator) >= self.p  # (B, hidden)
        return x * keep / (1 - self.p)


def build_model(
    setup: dict[str, Any], collate: Callable[[str], Callable] | None = None
) -> tuple[nn.Sequential, nn.Module, DataLoader, DataLoader]:
    """Model (in eval mode), loss, train_loader (shuffled) and val_loader, from the setup.
    `collate(phase)` gives the collate_fn of the loader for that phase ("train" | "val").

    setup: seed, sizes (n_in, n_hidden, n_classes), p (dropout), batch_size, n_train,
    val_batch_size, n_val, and val_y, the (n_val,) validation labels (the teacher's if absent).
    """
    gen = torch.Generator().manual_seed(setup["seed"])
    n_in, n_hidden, n_classes = setup["sizes"]
    model = nn.Sequential(
        nn.Linear(n_in, n_hidden),
        nn.BatchNorm1d(n_hidden),
        nn.ReLU(),
        SeededDropout(setup["p"], setup["seed"] + 1),
        nn.Linear(n_hidden, n_classes),
    )
    with torch.no_grad():  # values from the seed, not from the global RNG
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
    model.eval()  # e.g. after an earlier evaluation: fit has to switch it to training
    teacher = torch.randn(n_classes, n_in, generator=gen)
    x_train = torch.randn(setup["n_train"], n_in, generator=gen)  # (N, n_in)
    y_train = (x_train @ teacher.T).argmax(dim=-1)  # (N,) class ids a model can learn
    x_val = torch.randn(setup["n_val"], n_in, generator=gen)  # (M, n_in)
    y_val = setup.get("val_y")
    y_val = (x_val @ teacher.T).argmax(dim=-1) if y_val is None else y_val  # (M,)
    train_loader = DataLoader(
        TensorDataset(x_train, y_train),
        batch_size=setup["batch_size"],
        shuffle=True,
        generator=torch.Generator().manual_seed(setup["seed"] + 2),
        collate_fn=collate("train") if collate else None,
    )
    val_loader = DataLoader(  # a generator of its own: iterating never touches the global RNG
        TensorDataset(x_val, y_val),
        batch_size=setup["val_batch_size"],
        generator=torch.Generator().manual_seed(setup["seed"] + 3),
        collate_fn=collate("val") if collate else None,
    )
    return model, nn.CrossEntropyLoss(), train_loader, val_loader


class Watch:
    """What fit did to the model: each forward pass (the loader whose batch it ran on, the modes
    of dropout and batch norm, grad mode, whether the output has a graph, and how many optimizer
    steps followed it)."""

    def __init__(self) -> None:
        self.passes: list[dict[str, Any]] = []
        self.latest = "none"  # the loader that produced the latest batch
        self.batches: dict[int, tuple[str, torch.Tensor]] = {}  # id(x) -> (phase, x)

    def attach(self, model: nn.Sequential, optimizer: torch.optim.Optimizer) -> None:
        first, norm, dropout, last = model[0], model[1], model[3], model[-1]
        first.register_forward_pre_hook(self._start)
        norm.register_forward_hook(self._layer("batch norm"))
        dropout.register_forward_hook(self._layer("dropout"))
        last.register_forward_hook(self._output)
        optimizer.register_step_post_hook(self._step)

    def collate(self, phase: str) -> Callable[[list], Any]:
        def collate(samples: list) -> Any:
            batch = default_collate(samples)  # [x (B, n_in), y (B,)]
            self.latest = phase
            self.batches[id(batch[0])] = (phase, batch[0])  # kept alive: ids stay unique
            return batch

        return collate

    def _start(self, layer: nn.Module, inputs: tuple) -> None:
        x = inputs[0] if inputs else None
        known = self.batches.get(id(x))
        # a batch the loader made (kept in a list, say), else the loader that ran last
        phase = known[0] if known is not None and known[1] is x else self.latest
        self.passes.append(
            {
                "phase": phase,
                "grad_enabled": torch.is_grad_enabled(),
                "training": {},
                "graph": False,
                "steps": 0,
            }
        )

    def _layer(self, name: str) -> Callable[[nn.Module, Any, Any], None]:
        def record(layer: nn.Module, inputs: Any, output: Any) -> None:
            if self.passes:
                self.passes[-1]["training"][name] = layer.training

        return record

    def _output(self, layer: nn.Module, inputs: Any, output: Any) -> None:
        if self.passes:
            graph = isinstance(output, torch.Tensor) and output.requires_grad
            self.passes[-1]["graph"] = graph

    def _step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        if self.passes:  # a step with no forward pass before it has nothing to go wrong with
            self.passes[-1]["steps"] += 1


def fit_run(module: types.ModuleType, setup: dict[str, Any]) -> dict[str, Any]:
    """The learner's fit on build_model's objects and the setup's optimizer ("momentum" |
    "adamw", lr) for setup["epochs"] epochs; what it returned and what the hooks saw."""
    fit = need(module, "fit")
    watch = Watch()
    model, loss_fn, train_loader, val_loader = build_model(setup, watch.collate)
    kind = torch.optim.AdamW if setup["optimizer"] == "adamw" else torch.optim.SGD
    optimizer = kind(model.parameters(), lr=setup["lr"], **OPTIMIZERS[setup["optimizer"]])
    watch.attach(model, optimizer)
    returned = fit(model, optimizer, loss_fn, train_loader, val_loader, setup["epochs"])
    return {
        "returned": returned,
        "passes": watch.passes,
        "modes": {
            f"model[{name}] ({type(m).__name__})" if name else "model": m.training
            for name, m in model.named_modules()
        },
        "grad_enabled": torch.is_grad_enabled(),
        "state": {name: value.detach().clone() for name, value in model.state_dict().items()},
    }
