"""ex10 · Causal masking: reference solution."""

import torch
from torch import Tensor


def causal_mask(T: int, device: torch.device | str | None = None) -> Tensor:
    ones = torch.ones(T, T, dtype=torch.bool, device=device)  # (T, T)
    return torch.triu(ones, diagonal=1)  # (T, T): strictly above the diagonal, j > i


def masked_attention(scores: Tensor) -> Tensor:
    mask = causal_mask(scores.shape[-1], device=scores.device)  # (T, T), broadcasts over (...)
    hidden = scores.masked_fill(mask, float("-inf"))  # (..., T, T): a new tensor, scores untouched
    return hidden.softmax(dim=-1)  # (..., T, T): exp(-inf) = 0, rows sum to 1
