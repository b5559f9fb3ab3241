"""Scenarios for ex21_autograd_controls: functions to differentiate (by name, the judge knows them
by the same), a value network for the bootstrapped loss, a model to freeze and tensors to turn
into numpy arrays. Each report holds what the learner's function returned and what it left
behind (.grad of the input, requires_grad flags, which parameters came back); the check file
rebuilds the same objects (FUNCTIONS, build_value_net, build_tower, to_numpy_input) and works out
every expected value itself."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..runner import need
from .common import outcome, type_name

# Non-scalar functions of a 2-D x (n, d); none has a diagonal Jacobian, and each saves tensors
# for its backward pass, so a second backward through a freed graph raises.
FUNCTIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "cumsum_squared": lambda x: x.cumsum(dim=0) ** 2,  # (n, d)
    "softmax": lambda x: x.softmax(dim=-1),  # (n, d): every row sums to 1
    "tanh_gram": lambda x: torch.tanh(x) @ x.T,  # (n, n)
    "x_sin_x": lambda x: x * torch.sin(x),  # (n, d)
}


# ---------------------------------------------------------------- vjp and grad_twice


def vjp_cases(module: types.ModuleType, cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The learner's vjp(FUNCTIONS[f], x, v) per case (x requiring grad as case["requires_grad"]
    says), and the .grad and requires_grad it left on x."""
    vjp = need(module, "vjp")
    reports = []
    for case in cases:
        x = case["x"].detach().requires_grad_(case["requires_grad"])
        result = outcome(module, lambda f=FUNCTIONS[case["f"]], x=x, v=case["v"]: vjp(f, x, v))
        reports.append({"outcome": result, "x_grad": x.grad, "x_requires_grad": x.requires_grad})
    return reports


class _Counted:
    """A function that counts its calls."""

    def __init__(self, fn: Callable[[Tensor], Tensor]) -> None:
        self.fn = fn
        self.calls = 0

    def __call__(self, x: Tensor) -> Tensor:
        self.calls += 1
        return self.fn(x)


def grad_twice_cases(module: types.ModuleType, cases: list[dict[str, Any]]) -> list[dict]:
    """The learner's grad_twice(FUNCTIONS[f], x) per case, x a leaf requiring grad, and how many
    times it called f (once: one graph, two backward passes)."""
    grad_twice = need(module, "grad_twice")
    reports = []
    for case in cases:
        x = case["x"].detach().requires_grad_(True)
        f = _Counted(FUNCTIONS[case["f"]])
        result = outcome(module, lambda f=f, x=x: grad_twice(f, x))
        reports.append({"outcome": result, "f_calls": f.calls})
    return reports


# ---------------------------------------------------------------- bootstrap_loss


class ValueNet(nn.Module):
    """V(s): Linear-Tanh-Linear, one value per state."""

    def __init__(self, d_in: int, hidden: int) -> None:
        super().__init__()
        self.hidden = nn.Linear(d_in, hidden)
        self.out = nn.Linear(hidden, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(torch.tanh(self.hidden(x))).squeeze(-1)  # (B, d_in) -> (B,)


def build_value_net(seed: int, sizes: list[int]) -> ValueNet:
    """A ValueNet (d_in, hidden) whose weights depend only on `seed`."""
    model = ValueNet(*sizes)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.7)
    return model


def bootstrap(
    module: types.ModuleType,
    seed: int,
    sizes: list[int],
    x: Tensor,
    x_next: Tensor,
    reward: Tensor,
    gamma: float,
) -> dict[str, Any]:
    """The learner's bootstrap_loss on build_value_net(seed, sizes); then the gradients of what
    it returned with respect to every parameter (None where none flows)."""
    model = build_value_net(seed, sizes)
    loss = need(module, "bootstrap_loss")(model, x, x_next, reward, gamma)
    report: dict[str, Any] = {
        "type": type_name(loss),
        "value": loss.detach() if type(loss) is torch.Tensor else loss,
        "requires_grad": type(loss) is torch.Tensor and loss.requires_grad,
        "grads_before": [n for n, p in model.named_parameters() if p.grad is not None],
        "grads": None,
        "grad_error": None,
    }
    if report["requires_grad"] and loss.dim() == 0:
        names, params = zip(*model.named_parameters(), strict=True)
        try:
            grads = torch.autograd.grad(loss, params, allow_unused=True)
            report["grads"] = dict(zip(names, grads, strict=True))
        except RuntimeError as exc:  # the learner's own backward freed the graph
            report["grad_error"] = str(exc)[:300]
    return report


# ---------------------------------------------------------------- freeze


class Tower(nn.Module):
    """A model with nested names (embed.weight, encoder.0.bias, ...), no name a prefix of another
    module's, and one parameter (norm.bias) frozen before freeze is called."""

    def __init__(self, d_in: int, hidden: int, d_out: int) -> None:
        super().__init__()
        self.embed = nn.Linear(d_in, hidden)
        self.encoder = nn.Sequential(
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden)
        )
        self.norm = nn.LayerNorm(hidden)
        self.head = nn.Linear(hidden, d_out)
        self.scale = nn.Parameter(torch.ones(d_out))
        self.norm.bias.requires_grad_(False)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.norm(self.encoder(self.embed(x)))) * self.scale  # (B, d_out)


def build_tower(sizes: list[int]) -> Tower:
    return Tower(*sizes)


def freeze_cases(
    module: types.ModuleType, sizes: list[int], cases: list[list[str] | tuple[str, ...]]
) -> list[dict[str, Any]]:
    """The learner's freeze(model, prefixes) on a fresh Tower per case: the requires_grad flags
    it left, and what it returned, each item named by its index in model.parameters() (None for
    anything that is not one of them)."""
    freeze = need(module, "freeze")
    reports = []
    for prefixes in cases:
        model = build_tower(sizes)
        params = list(model.parameters())

        def run(model: Tower = model, params: list = params, prefixes: Any = prefixes) -> dict:
            returned = freeze(model, prefixes)
            items = list(returned) if type(returned) in (list, tuple) else []
            return {
                "type": type_name(returned),
                "indices": [next((i for i, p in enumerate(params) if p is q), None) for q in items],
                "types": [type_name(q) for q in items],
            }

        result = outcome(module, run)
        flags = {name: p.requires_grad for name, p in model.named_parameters()}
        reports.append({"outcome": result, "flags": flags})
    return reports


# ---------------------------------------------------------------- to_numpy

TO_NUMPY_KINDS = (
    "a leaf that requires grad",
    "a result computed from a tensor that requires grad",
    "a transposed (non-contiguous) view",
    "every other column (a strided view)",
)


def to_numpy_input(kind: str, base: Tensor) -> Tensor:
    """The tensor handed to to_numpy for a kind of TO_NUMPY_KINDS, made from `base` (n, m)."""
    if kind == TO_NUMPY_KINDS[0]:
        return base.clone().requires_grad_(True)
    if kind == TO_NUMPY_KINDS[1]:
        return base.clone().requires_grad_(True) * 2  # non-leaf, with a grad_fn
    if kind == TO_NUMPY_KINDS[2]:
        return base.T
    return base[:, ::2]


def _array_report(value: Any) -> dict[str, Any]:
    """What came back: type, and for a numpy array its dtype, shape and values (as a tensor)."""
    if type(value) is not np.ndarray:
        return {"type": type_name(value)}
    try:
        values = torch.from_numpy(np.array(value))  # a copy, in row-major order
    except TypeError:  # a dtype torch has no counterpart for (object, str)
        values = None
    return {
        "type": "numpy.ndarray",
        "dtype": str(value.dtype),
        "shape": list(value.shape),
        "values": values,
    }


def to_numpy_cases(module: types.ModuleType, cases: list[dict[str, Any]]) -> list[dict]:
    """The learner's to_numpy(to_numpy_input(kind, base)) per case, and whether the tensor still
    requires grad afterwards."""
    to_numpy = need(module, "to_numpy")
    reports = []
    for case in cases:
        t = to_numpy_input(case["kind"], case["base"])
        result = outcome(module, lambda t=t: _array_report(to_numpy(t)))
        reports.append({"outcome": result, "requires_grad_after": t.requires_grad})
    return reports
