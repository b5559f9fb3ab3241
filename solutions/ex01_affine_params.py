"""ex01 · Count Affine parameters: reference solution."""

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn


def affine_param_count(in_features: int, out_features: int, bias: bool = True) -> int:
    return in_features * out_features + (out_features if bias else 0)  # W (out, in) + b (out,)


class Affine(nn.Module):
    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        bound = 1 / math.sqrt(in_features)  # nn.Linear's default range keeps outputs ~unit scale
        # assigning an nn.Parameter registers it: .parameters() and state_dict() now see it
        self.weight = nn.Parameter(torch.empty(out_features, in_features).uniform_(-bound, bound))
        self.bias = (
            nn.Parameter(torch.empty(out_features).uniform_(-bound, bound)) if bias else None
        )

    def forward(self, x: Tensor) -> Tensor:
        y = x @ self.weight.T  # (..., in) @ (in, out) -> (..., out)
        return y if self.bias is None else y + self.bias  # (out,) broadcasts over leading dims


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    # .parameters() yields a shared Parameter once and never yields buffers
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def mlp_param_count(sizes: Sequence[int]) -> int:
    return sum(affine_param_count(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=False))
