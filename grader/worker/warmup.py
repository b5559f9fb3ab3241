"""Work that every run process would otherwise do for itself, done once in the warm worker.

A run process is a fork of its lane: whatever the worker imported or set up before forking,
each run starts with. A fresh process pays for its first forward and backward pass, its first
cross_entropy and its first optimizer step (caches, lazy imports: about 5 ms a run here), and
a run imported its kata's trusted scenarios from source (about 3 ms). Both are done here,
once, before the lanes fork.

Nothing here changes what a learner's code sees: the CPU generator is put back as it was (a
file that draws at import draws the same numbers), no setting is left changed, and no thread
is started (a fork copies only the forking thread).
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

import torch
import torch.nn.functional as F

from . import scenarios


@cache
def import_scenarios() -> None:
    """Every kata's scenarios (all of them together: about 20 ms, once)."""
    for info in pkgutil.iter_modules(scenarios.__path__):
        importlib.import_module(f"{scenarios.__name__}.{info.name}")


@cache
def first_steps() -> None:
    """One small forward and backward pass through a Linear layer, with a cross_entropy."""
    with torch.random.fork_rng(devices=[]):
        model = torch.nn.Linear(4, 3)
        x = torch.randn(5, 4, requires_grad=True)  # (B, n_in)
        loss = F.cross_entropy(torch.tanh(model(x)), torch.tensor([0, 1, 2, 1, 0]))
        loss.backward()
        with torch.no_grad():  # a manual update, as the SGD katas write it
            for p in model.parameters():
                p -= 0.1 * p.grad


@cache
def optimizer_steps() -> None:
    """A step of SGD and of AdamW. Called once torch._dynamo is imported: an optimizer's
    first step imports it (a second), which runs that need no optimizer should not wait for."""
    with torch.random.fork_rng(devices=[]):
        model = torch.nn.Linear(4, 3)
        for kind in (torch.optim.SGD, torch.optim.AdamW):
            optimizer = kind(model.parameters(), lr=0.1)
            model(torch.randn(2, 4)).sum().backward()
            optimizer.step()
            optimizer.zero_grad()
