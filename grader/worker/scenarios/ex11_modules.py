"""Scenarios for ex11_modules: build the learner's MLP and RunningStandardize, run them, and
report what they registered and computed. The judge builds the same layers from the same seeds
(seeded_layers below) and runs nn.BatchNorm1d itself to decide."""

from __future__ import annotations

import types
from typing import Any

import torch
from torch import Tensor, nn

from ..runner import need

STATS = ("running_mean", "running_var")
MODULE_INTERNALS = ("_parameters", "_buffers", "_modules")  # nn.Module's own registries


def seeded_layers(sizes: list[int], seed: int) -> list[tuple[Tensor, Tensor]]:
    """(weight (out, in), bias (out,)) for each Linear(sizes[i], sizes[i + 1]), from `seed`."""
    generator = torch.Generator().manual_seed(seed)
    layers = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=False):
        scale = fan_in**-0.5  # keeps activations about unit scale however deep
        weight = torch.randn(fan_out, fan_in, generator=generator) * scale
        layers.append((weight, torch.randn(fan_out, generator=generator) * scale))
    return layers


# ---------------------------------------------------------------- MLP


def _build_mlp(module: types.ModuleType, sizes: list[int]) -> nn.Module:
    mlp = need(module, "MLP")(sizes)
    if not isinstance(mlp, nn.Module):
        raise TypeError(f"MLP(...) built a {type(mlp).__name__}, not an nn.Module")
    return mlp


def _plain_holders(mlp: nn.Module) -> dict[str, list[nn.Module]]:
    """Attributes of mlp (and of its submodules) that are plain lists, tuples or dicts of
    modules: nn.Module cannot see inside those, so nothing in them is registered."""
    holders = {}
    for prefix, owner in mlp.named_modules():
        for name, value in vars(owner).items():
            if name in MODULE_INTERNALS or type(value) not in (list, tuple, dict):
                continue
            items = value.values() if type(value) is dict else value
            held = [item for item in items if isinstance(item, nn.Module)]
            if held:
                holders[f"{prefix}.{name}" if prefix else name] = held
    return holders


def _call_order(mlp: nn.Module, x: Tensor) -> list[nn.Linear]:
    """The nn.Linear layers that forward(x) calls, in call order, registered or not (registration
    is checked on its own). Layers never called (forward uses F.linear?): in registration order."""
    reachable = {id(m): m for m in mlp.modules()}
    for held in _plain_holders(mlp).values():
        reachable.update({id(m): m for item in held for m in item.modules()})
    linears = [m for m in reachable.values() if isinstance(m, nn.Linear)]
    called: list[nn.Linear] = []
    hooks = [m.register_forward_hook(lambda m, _in, _out: called.append(m)) for m in linears]
    try:
        with torch.no_grad():
            mlp(x)
    finally:
        for hook in hooks:
            hook.remove()
    return called or linears


def _loaded_mlp(module: types.ModuleType, sizes: list[int], seed: int, x: Tensor) -> tuple:
    """The learner's MLP with the seeded weights copied into its layers in call order, and the
    (in, out) shapes of those layers; None for the MLP when the layers do not fit the weights."""
    mlp = _build_mlp(module, sizes)
    layers = _call_order(mlp, x)
    shapes = [[layer.in_features, layer.out_features] for layer in layers]
    weights = seeded_layers(sizes, seed)
    fits = len(layers) == len(weights) and all(
        layer.weight.shape == w.shape and layer.bias is not None and layer.bias.shape == b.shape
        for layer, (w, b) in zip(layers, weights, strict=False)
    )
    if not fits:
        return None, layers, shapes
    with torch.no_grad():
        for layer, (w, b) in zip(layers, weights, strict=True):
            layer.weight.copy_(w)
            layer.bias.copy_(b)
    return mlp, layers, shapes


def _plain(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.detach().clone().as_subclass(Tensor)
    return value


def mlp_structure(module: types.ModuleType, sizes: list[int]) -> dict[str, Any]:
    """What MLP(sizes) registers: its parameters, its nn.Linear submodules, its state_dict, and
    attributes that hold modules in plain Python containers."""
    mlp = _build_mlp(module, sizes)
    return {
        "parameters": {name: list(p.shape) for name, p in mlp.named_parameters()},
        "linears": [
            {"in": m.in_features, "out": m.out_features, "bias": m.bias is not None}
            for m in mlp.modules()
            if isinstance(m, nn.Linear)
        ],
        "state_dict": sorted(mlp.state_dict()),
        "plain_holders": sorted(_plain_holders(mlp)),
    }


def mlp_forward(module: types.ModuleType, sizes: list[int], seed: int, x: Tensor) -> dict:
    """The learner's MLP with seeded weights, run on x."""
    mlp, _, shapes = _loaded_mlp(module, sizes, seed, x)
    if mlp is None:
        return {"layers": shapes}
    return {"layers": shapes, "output": _plain(mlp(x))}


def mlp_grads(
    module: types.ModuleType, sizes: list[int], seed: int, x: Tensor, upstream: Tensor
) -> dict[str, Any]:
    """Backpropagate `upstream` through the learner's seeded MLP; each layer's gradients."""
    mlp, layers, shapes = _loaded_mlp(module, sizes, seed, x)
    if mlp is None:
        return {"layers": shapes}
    output = mlp(x)
    usable = type(output) is Tensor and output.shape == upstream.shape and output.requires_grad
    if usable:  # a wrong output is the judge's to report, not a backward() error here
        (output * upstream).sum().backward()
    return {
        "layers": shapes,
        "output": _plain(output),
        "grads": [[_plain(layer.weight.grad), _plain(layer.bias.grad)] for layer in layers],
    }


# ---------------------------------------------------------------- RunningStandardize


def _build_standardize(
    module: types.ModuleType, num_features: int, momentum: float | None, eps: float | None
) -> nn.Module:
    """RunningStandardize(num_features, ...), with the learner's defaults where None."""
    options = {"momentum": momentum, "eps": eps}
    layer = need(module, "RunningStandardize")(
        num_features, **{k: v for k, v in options.items() if v is not None}
    )
    if not isinstance(layer, nn.Module):
        raise TypeError(f"RunningStandardize(...) built a {type(layer).__name__}, not an nn.Module")
    return layer


def _describe(value: Any) -> dict[str, Any]:
    """A statistic as the judge sees it: its type and, for a tensor, a copy and its history."""
    seen: dict[str, Any] = {"type": type(value).__name__}
    if isinstance(value, Tensor):
        seen.update(value=_plain(value), history=value.grad_fn is not None)
    return seen


def _stats(layer: nn.Module) -> dict[str, Any]:
    absent = object()
    stats = {}
    for name in STATS:
        value = getattr(layer, name, absent)
        stats[name] = {"type": "absent"} if value is absent else _describe(value)
    return stats


def _step(layer: nn.Module, x: Tensor, upstream: Tensor | None) -> dict[str, Any]:
    """One forward (and backward of `upstream`, if given) with the statistics after it."""
    x = x.detach().clone().requires_grad_(upstream is not None)
    output = layer(x)
    usable = type(output) is Tensor and output.shape == x.shape and output.requires_grad
    if upstream is not None and usable:
        (output * upstream).sum().backward()
    return {"output": _plain(output), "input_grad": _plain(x.grad), **_stats(layer)}


def standardize_train(
    module: types.ModuleType,
    num_features: int,
    momentum: float | None,
    eps: float | None,
    batches: list[Tensor],
    upstreams: list[Tensor],
) -> dict[str, Any]:
    """A fresh RunningStandardize, left in its default (training) mode, on several batches: each
    step's output, input gradient and running statistics."""
    layer = _build_standardize(module, num_features, momentum, eps)
    initial = _stats(layer)
    steps = [_step(layer, x, up) for x, up in zip(batches, upstreams, strict=True)]
    return {"initial": initial, "steps": steps}


def standardize_eval(
    module: types.ModuleType,
    num_features: int,
    momentum: float | None,
    eps: float | None,
    train_batches: list[Tensor],
    eval_batches: list[Tensor],
) -> dict[str, Any]:
    """Train on some batches, then .eval() and run others: the statistics before eval, and each
    eval step's output and statistics."""
    layer = _build_standardize(module, num_features, momentum, eps)
    with torch.no_grad():
        for x in train_batches:
            layer(x)
    before = _stats(layer)
    layer.eval()
    return {"before": before, "steps": [_step(layer, x, None) for x in eval_batches]}


def standardize_buffers(module: types.ModuleType, num_features: int) -> dict[str, Any]:
    """Where RunningStandardize keeps its statistics, and their dtypes after .to(float64)."""
    layer = _build_standardize(module, num_features, None, None)
    seen = {
        "parameters": [name for name, _ in layer.named_parameters()],
        "buffers": [name for name, _ in layer.named_buffers()],
        "state_dict": list(layer.state_dict()),
        "types": {name: stat["type"] for name, stat in _stats(layer).items()},
    }
    layer.to(torch.float64)
    seen["dtypes_after_to"] = {
        name: stat["value"].dtype if "value" in stat else None
        for name, stat in _stats(layer).items()
    }
    return seen
