"""ex14 scenarios: build params and gradients (or a tiny model) from a seed, step the learner's
AdamW on them, and report the parameters as plain data.

The judge builds the very same params, gradients and models with `build_problem` and
`build_model`, runs torch.optim.AdamW's arithmetic on them and decides what the report means.

torch's own Adam/AdamW is forbidden in the learner's code. Whichever way it is reached (the
torch.optim.Adam or AdamW class, a subclass of them, torch.optim._functional.adam/adamw), the
update goes through one of three kernels that torch.optim.adam looks up in its module globals
at call time; the scenarios replace those with recording wrappers and report what ran.
(A direct torch._fused_adam_/_fused_adamw_ call is seen by the judge's aten watch instead.)
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..runner import need

TORCH_ADAM_KERNELS = ("_single_tensor_adam", "_multi_tensor_adam", "_fused_adam")


@contextmanager
def watching_torch_adam() -> Iterator[list[str]]:
    """Record which of torch's Adam kernels run inside the block."""
    import torch.optim.adam as adam_module

    used: list[str] = []
    originals = {name: getattr(adam_module, name) for name in TORCH_ADAM_KERNELS}

    def recording(name: str, kernel: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            used.append(name)
            return kernel(*args, **kwargs)

        return wrapper

    for name, kernel in originals.items():
        setattr(adam_module, name, recording(name, kernel))
    try:
        yield used
    finally:
        for name, kernel in originals.items():
            setattr(adam_module, name, kernel)


def build_problem(setup: dict[str, Any]) -> tuple[list[list[torch.Tensor]], list[list]]:
    """Initial values per group, and gradients[step][group][param] (None where a param gets none).

    setup: seed, steps, groups: [{shapes, scale, without_grad: [[step, ...] per param]}, ...].
    A gradient is scale * (a fixed per-param direction + fresh noise), so the moments carry signal.
    """
    gen = torch.Generator().manual_seed(setup["seed"])
    groups = setup["groups"]
    values = [[torch.randn(shape, generator=gen) for shape in g["shapes"]] for g in groups]
    drift = [[torch.randn(shape, generator=gen) for shape in g["shapes"]] for g in groups]
    grads = []
    for step in range(setup["steps"]):
        at_step = []
        for g, group in enumerate(groups):
            skipped = group.get("without_grad") or [[] for _ in group["shapes"]]
            row = []
            for i, shape in enumerate(group["shapes"]):
                grad = group["scale"] * (drift[g][i] + torch.randn(shape, generator=gen))
                row.append(None if step in skipped[i] else grad)
            at_step.append(row)
        grads.append(at_step)
    return values, grads


def run_steps(module: types.ModuleType, setup: dict[str, Any], solo: bool = False) -> dict:
    """The learner's AdamW over setup's groups for setup["steps"] steps.

    Each group is {"params": [...], **options}; setup["kwargs"] go to the constructor. With
    setup["as_generator"] the params are handed over like model.parameters() (one group).
    With `solo`, every param gets an optimizer of its own (same options): state cannot leak.
    Reports each param's values after every step, stacked: (steps, *shape).
    """
    adamw = need(module, "AdamW")
    values, grads = build_problem(setup)
    params = [[v.clone().requires_grad_(True) for v in group] for group in values]
    kwargs = setup.get("kwargs", {})
    groups = setup["groups"]
    with watching_torch_adam() as used:
        if solo:
            optimizers = [
                adamw([{"params": [p], **g["options"]}], **kwargs)
                for ps, g in zip(params, groups, strict=True)
                for p in ps
            ]
        elif setup.get("as_generator"):
            optimizers = [adamw((p for ps in params for p in ps), **kwargs)]
        else:
            given = [{"params": ps, **g["options"]} for ps, g in zip(params, groups, strict=True)]
            optimizers = [adamw(given, **kwargs)]
        history: list[list[torch.Tensor]] = [[] for ps in params for _ in ps]
        for step_grads in grads:
            for ps, gs in zip(params, step_grads, strict=True):
                for p, grad in zip(ps, gs, strict=True):
                    p.grad = None if grad is None else grad.clone()
            for optimizer in optimizers:
                optimizer.step()
            for seen, p in zip(history, (p for ps in params for p in ps), strict=True):
                seen.append(p.detach().clone())
    return {"trajectory": [_stack(seen) for seen in history], "torch_adam": sorted(set(used))}


def _stack(seen: list[torch.Tensor]) -> Any:
    """(steps, *shape), or the list itself if the learner changed a param's shape or dtype."""
    first = seen[0]
    if all(t.shape == first.shape and t.dtype == first.dtype for t in seen):
        return torch.stack(seen)
    return seen


def build_model(setup: dict[str, Any]) -> tuple[nn.Module, list[tuple[torch.Tensor, ...]]]:
    """Linear-Tanh-Linear with weights from the seed, and `steps` batches of regression data.
    setup: seed, sizes (n_in, n_hidden, n_out), batch, steps."""
    gen = torch.Generator().manual_seed(setup["seed"])
    n_in, n_hidden, n_out = setup["sizes"]
    model = nn.Sequential(nn.Linear(n_in, n_hidden), nn.Tanh(), nn.Linear(n_hidden, n_out))
    with torch.no_grad():  # values from the seed, not from the global RNG
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
    batches = [
        (
            torch.randn(setup["batch"], n_in, generator=gen),
            torch.randn(setup["batch"], n_out, generator=gen),
        )
        for _ in range(setup["steps"])
    ]  # x (B, n_in), y (B, n_out)
    return model, batches


def train(module: types.ModuleType, setup: dict[str, Any]) -> dict:
    """A plain training loop (zero_grad, forward, backward, step) with the learner's AdamW."""
    adamw = need(module, "AdamW")
    model, batches = build_model(setup)
    with watching_torch_adam() as used:
        optimizer = adamw(model.parameters(), **setup["kwargs"])
        losses = []
        for x, y in batches:
            optimizer.zero_grad()
            loss = F.mse_loss(model(x), y)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    params = [p.detach().clone() for p in model.parameters()]
    return {"losses": losses, "params": params, "torch_adam": sorted(set(used))}


def train_with_closure(module: types.ModuleType, setup: dict[str, Any]) -> dict:
    """The same training, but every step is optimizer.step(closure); reports what step returned
    and whether it was the very loss tensor the closure returned."""
    adamw = need(module, "AdamW")
    model, batches = build_model(setup)
    returned, is_closure_loss, closure_losses = [], [], []
    with watching_torch_adam() as used:
        optimizer = adamw(model.parameters(), **setup["kwargs"])
        for x, y in batches:
            computed: list[torch.Tensor] = []

            def closure(x: Any = x, y: Any = y, computed: list = computed) -> torch.Tensor:
                optimizer.zero_grad()
                loss = F.mse_loss(model(x), y)
                loss.backward()
                computed.append(loss)
                return loss

            result = optimizer.step(closure)
            is_closure_loss.append(bool(computed) and result is computed[-1])
            returned.append(result.detach() if type(result) is torch.Tensor else result)
            closure_losses.append(computed[-1].item() if computed else None)
    return {
        "returned": returned,
        "is_closure_loss": is_closure_loss,
        "closure_losses": closure_losses,
        "params": [p.detach().clone() for p in model.parameters()],
        "torch_adam": sorted(set(used)),
    }
