"""ex01 · Count Affine parameters (fill-in kata)

An affine layer maps each input vector x of size in_features to

    y = x @ W.T + b          W: (out_features, in_features)   b: (out_features,)

This is what nn.Linear computes; here you write it yourself and count what it learns.
x may carry any leading dims: (in,), (B, in) or (B, T, in) all work, because the
matmul acts on the last dim and b broadcasts over the rest: (..., in) -> (..., out).

Why count? Parameter counts are how models are sized and compared (memory, speed),
and counting them yourself shows what a module really owns:
- affine_param_count: one weight per (output, input) pair, plus one bias per output.
- Affine: store W as self.weight, shape (out, in), and b as self.bias, shape (out,),
  or None when bias=False, so that nn.Linear's state_dict() loads into your layer.
- count_parameters: the number of elements (not tensors) in the module's parameters;
  with trainable_only=True only those with requires_grad.
- mlp_param_count: for nn.Linear(sizes[i], sizes[i + 1]) layers, all with bias,
  e.g. [784, 128, 10] -> 101770.

The pitfall: self.weight = torch.randn(out, in) runs, but a plain tensor is not
registered, so .parameters(), optimizers and state_dict() never see it. Wrap it in
nn.Parameter. Also mind that a module may hold buffers (BatchNorm's running stats)
and may use one Parameter in two places (tied weights): neither adds parameters.
"""

from collections.abc import Sequence

import torch  # noqa: F401  (you will need it for the weights)
from torch import Tensor, nn


def affine_param_count(in_features: int, out_features: int, bias: bool = True) -> int:
    """How many numbers an Affine(in_features, out_features, bias) layer learns."""
    raise NotImplementedError


class Affine(nn.Module):
    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        # self.weight: (out_features, in_features); self.bias: (out_features,) or None
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        """(..., in_features) -> (..., out_features)"""
        raise NotImplementedError


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """The number of elements in the module's parameters (each shared one counted once)."""
    raise NotImplementedError


def mlp_param_count(sizes: Sequence[int]) -> int:
    """Parameters of nn.Linear(sizes[0], sizes[1]), nn.Linear(sizes[1], sizes[2]), ..."""
    raise NotImplementedError
