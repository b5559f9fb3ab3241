"""Scenarios for ex19: build the learner's Embedding and report what it holds and computes.

`lookup_size` watches every operator the forward pass runs and stops it at the
first output as large as a one-hot matrix would be, so a one-hot forward is
caught without spending seconds and gigabytes on it.
"""

from __future__ import annotations

import types
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from ..runner import need


class OneHotSized(Exception):
    """An operator in the forward pass produced a tensor with one entry per (id, vocab word)."""


def structure(module: types.ModuleType, vocab: int, dim: int, seed: int) -> dict[str, Any]:
    torch.manual_seed(seed)
    emb = need(module, "Embedding")(vocab, dim)
    weight = getattr(emb, "weight", None)
    described = type(weight) is torch.nn.Parameter or type(weight) is torch.Tensor
    return {
        "weight_type": type(weight).__name__,
        "parameters": {name: list(p.shape) for name, p in emb.named_parameters()},
        "state_dict": sorted(emb.state_dict()),
        "mean": float(weight.detach().mean()) if described else None,
        "std": float(weight.detach().std()) if described else None,
    }


def lookup(
    module: types.ModuleType, weight: torch.Tensor, ids: torch.Tensor, upstream: torch.Tensor
) -> dict[str, Any]:
    """Load `weight` as nn.Embedding's state_dict, embed ids, backpropagate (out * upstream)."""
    vocab, dim = weight.shape
    emb = need(module, "Embedding")(vocab, dim)
    emb.load_state_dict(torch.nn.Embedding.from_pretrained(weight.detach()).state_dict())
    out = emb(ids)
    if type(out) is not torch.Tensor:
        return {"out": out}
    (out * upstream).sum().backward()
    return {"out": out.detach(), "grad": emb.weight.grad}


class _Largest(TorchDispatchMode):
    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        return False  # the default wraps the mode in torch._dynamo.disable: seconds of imports

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if isinstance(out, torch.Tensor) and out.numel() >= self.limit:
            raise OneHotSized(f"{func.overloadpacket.__name__} made a {tuple(out.shape)} tensor")
        return out


def lookup_size(module: types.ModuleType, vocab: int, dim: int, count: int) -> dict[str, Any]:
    """Embed `count` ids from a `vocab`-word table; report any one-hot-sized intermediate."""
    emb = need(module, "Embedding")(vocab, dim)
    ids = torch.randint(0, vocab, (count,))
    try:
        with torch.no_grad(), _Largest(limit=count * vocab // 4):
            out = emb(ids)
    except OneHotSized as exc:
        return {"one_hot": str(exc)}
    return {"one_hot": None, "shape": list(out.shape) if type(out) is torch.Tensor else None}
