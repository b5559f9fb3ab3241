"""ex10 · Causal masking (fill-in kata)

In a decoder (GPT-style) token i may attend to tokens 0..i, never to the
future. Attention scores form a (T, T) grid: row i = the query at position i,
column j = the key at position j. The future is every j > i: the strict upper
triangle, above the diagonal (a token may always see itself).

    T = 4, True = masked         i \\ j  0  1  2  3
                                   0    .  x  x  x
                                   1    .  .  x  x
                                   2    .  .  .  x
                                   3    .  .  .  .

Masking happens BEFORE the softmax: set the future scores to -inf, then
softmax over the last dim (the keys). exp(-inf) is exactly 0, so the future
gets no weight and each row still sums to 1. Setting them to 0 is not masking:
exp(0) = 1, a score like any other.

Pitfall: tensor.masked_fill(mask, value) returns a NEW tensor and leaves
`tensor` alone; masked_fill_ (trailing underscore) changes it in place.
Calling masked_fill and ignoring its result masks nothing, and masked_fill_
on `scores` overwrites the caller's tensor, which they may still need.

Devices: make the mask where the scores are. torch.triu and torch.tril keep
their input's device, so pass device= to the constructor (torch.ones,
torch.arange); masking GPU scores with a mask made on the CPU raises an error.

Tools: torch.triu / torch.tril (with `diagonal=`), torch.ones(...,
dtype=torch.bool, device=...), masked_fill, softmax(dim=-1).
"""

import torch
from torch import Tensor


def causal_mask(T: int, device: torch.device | str | None = None) -> Tensor:
    """(T, T) bool mask on `device`, True where j > i (the future, to be hidden)."""
    raise NotImplementedError


def masked_attention(scores: Tensor) -> Tensor:
    """Causal attention weights.  scores: (..., T, T) -> (..., T, T), each row sums to 1.

    Future scores are hidden with -inf before a softmax over the last dim.
    Any leading dims, e.g. (B, H, T, T). Does not modify `scores`.
    """
    raise NotImplementedError
