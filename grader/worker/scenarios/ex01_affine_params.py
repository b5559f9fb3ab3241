"""Scenarios for ex01: build Affine layers and small models, report what the learner's code did.

The check file imports the builders below to build the very same objects on the judge side.
"""

from __future__ import annotations

import types
from typing import Any

import torch
from torch import nn

from ..runner import need


def seeded_linear(in_features: int, out_features: int, bias: bool, seed: int) -> nn.Linear:
    """An nn.Linear whose values depend only on `seed` (not on the global random state)."""
    generator = torch.Generator().manual_seed(seed)
    linear = nn.Linear(in_features, out_features, bias=bias)
    with torch.no_grad():
        for param in linear.parameters():
            param.copy_(torch.randn(param.shape, generator=generator))
    return linear


class TiedLM(nn.Module):
    """Embedding and output head share one weight, as in many language models."""

    def __init__(self, vocab: int, dim: int, hidden: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.mix = nn.Linear(dim, hidden)
        self.back = nn.Linear(hidden, dim)
        self.head = nn.Linear(dim, vocab, bias=False)
        self.head.weight = self.embed.weight  # the same Parameter, registered in two places


def build_model(kind: str, sizes: list[int]) -> nn.Module:
    """A model of the given kind; sizes are four dimensions."""
    a, b, c, d = sizes
    if kind == "mlp":  # nested containers, a layer without bias
        return nn.Sequential(
            nn.Linear(a, b), nn.ReLU(), nn.Sequential(nn.Linear(b, c, bias=False), nn.Tanh())
        )
    if kind == "batchnorm":  # running statistics are buffers, not parameters
        return nn.Sequential(nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU(), nn.Linear(b, c))
    if kind == "tied":
        return TiedLM(a, b, c)
    if kind == "frozen":  # a frozen first layer, as when fine-tuning on top of it
        model = nn.Sequential(nn.Linear(a, b), nn.ReLU(), nn.Linear(b, c), nn.Linear(c, d))
        model[0].requires_grad_(False)
        model[3].bias.requires_grad_(False)
        return model
    raise ValueError(f"unknown model kind {kind!r}")


def _build_affine(
    module: types.ModuleType, in_features: int, out_features: int, bias: bool
) -> nn.Module:
    affine = need(module, "Affine")
    # bias=True through the default, as most callers write it
    return (
        affine(in_features, out_features) if bias else affine(in_features, out_features, bias=False)
    )


def _describe(value: Any) -> dict[str, Any] | None:
    """What an attribute holds: its type name and, for tensors, shape, dtype and requires_grad."""
    if value is None:
        return None
    seen: dict[str, Any] = {"type": type(value).__name__}
    if isinstance(value, torch.Tensor):
        seen.update(shape=list(value.shape), dtype=value.dtype, requires_grad=value.requires_grad)
    return seen


def _structure(layer: nn.Module) -> dict[str, Any]:
    absent = object()
    attributes = {}
    for name in ("weight", "bias"):
        value = getattr(layer, name, absent)
        attributes[name] = "absent" if value is absent else _describe(value)
    return {
        "attributes": attributes,
        "parameters": {  # name -> shape, in registration order
            name: list(p.shape) for name, p in layer.named_parameters(remove_duplicate=False)
        },
        "state_dict": {key: list(t.shape) for key, t in layer.state_dict().items()},
    }


def _plain(value: Any) -> Any:
    return value.detach() if type(value) is torch.Tensor else value


def _load_linear(layer: nn.Module, linear: nn.Linear) -> str | None:
    """Load the nn.Linear's state_dict into the learner's layer; the error text if it fails."""
    try:
        layer.load_state_dict(linear.state_dict())
    except Exception as exc:  # the judge explains the failure with the structure it sees
        return f"{type(exc).__name__}: {exc}"
    return None


def affine_structure(
    module: types.ModuleType, in_features: int, out_features: int, bias: bool
) -> dict[str, Any]:
    """Build Affine and report its attributes, registered parameters and state_dict."""
    return _structure(_build_affine(module, in_features, out_features, bias))


def affine_forward(
    module: types.ModuleType, in_features: int, out_features: int, bias: bool, seed: int, x
) -> dict[str, Any]:
    """Load a seeded nn.Linear's state_dict into Affine and run it on x."""
    layer = _build_affine(module, in_features, out_features, bias)
    seen = {"structure": _structure(layer)}
    seen["load_error"] = _load_linear(layer, seeded_linear(in_features, out_features, bias, seed))
    if seen["load_error"] is None:
        seen["output"] = _plain(layer(x))
    return seen


def affine_grads(
    module: types.ModuleType, in_features: int, out_features: int, seed: int, x, upstream
) -> dict[str, Any]:
    """Load a seeded nn.Linear into Affine, backpropagate `upstream` and report the gradients."""
    layer = _build_affine(module, in_features, out_features, True)
    seen = {"structure": _structure(layer)}
    seen["load_error"] = _load_linear(layer, seeded_linear(in_features, out_features, True, seed))
    if seen["load_error"] is None:
        output = layer(x)
        # a wrong output shape is the judge's to report, not a backward() error here
        usable = type(output) is torch.Tensor and output.shape == upstream.shape
        if usable and output.requires_grad:
            # the same gradients as output.backward(upstream), which imports sympy: seconds
            (output * upstream).sum().backward()
        seen["output"] = _plain(output)
        seen["grads"] = {name: p.grad for name, p in layer.named_parameters()}
        seen["input_grad"] = x.grad
    return seen


def count(
    module: types.ModuleType, kind: str, sizes: list[int], trainable_only: bool | None
) -> Any:
    """The learner's count_parameters on a freshly built model (None: use the default)."""
    count_parameters = need(module, "count_parameters")
    model = build_model(kind, sizes)
    if trainable_only is None:
        return count_parameters(model)
    return count_parameters(model, trainable_only=trainable_only)
