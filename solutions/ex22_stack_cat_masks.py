"""ex22 · Stack, cat and masks: reference solution."""

from collections.abc import Sequence

import torch
from torch import Tensor


def batch_sequences(seqs: Sequence[Tensor]) -> Tensor:
    shapes = {tuple(s.shape) for s in seqs}
    if len(shapes) > 1:  # torch.stack would raise a RuntimeError; the contract is ValueError
        raise ValueError(f"batch_sequences needs equal shapes, got {sorted(shapes)}")
    return torch.stack(list(seqs), dim=0)  # (B, T, C): a new dim 0


def join_sequences(seqs: Sequence[Tensor]) -> Tensor:
    return torch.cat(list(seqs), dim=0)  # (sum of T_i, C): time grows


def pad_sequences(seqs: Sequence[Tensor], pad_value: float = 0.0) -> tuple[Tensor, Tensor]:
    first = seqs[0]
    lengths = torch.tensor([len(s) for s in seqs], device=first.device)  # (B,)
    T_max = int(lengths.max())
    padded = first.new_full((len(seqs), T_max, first.shape[1]), pad_value)  # (B, T_max, C)
    for b, s in enumerate(seqs):
        padded[b, : len(s)] = s  # writes into our new tensor, never into s
    mask = torch.arange(T_max, device=first.device) < lengths[:, None]  # (B, T_max) bool
    return padded, mask


def select(x: Tensor, mask: Tensor) -> Tensor:
    return x[mask]  # (mask.sum(),): row-major order


def zero_where(x: Tensor, mask: Tensor) -> Tensor:
    return x.masked_fill(mask, 0)  # x's shape, a new tensor


def row_max(x: Tensor) -> tuple[Tensor, Tensor]:
    values, indices = x.max(dim=-1)  # (...), (...) int64
    return values, indices
