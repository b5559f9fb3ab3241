"""ex07 · Views, strides and attention heads: reference solution."""

from collections.abc import Sequence

from torch import Tensor


def row_major_strides(shape: Sequence[int]) -> tuple[int, ...]:
    strides = []
    step = 1  # elements in one step along the current dim: the product of the dims after it
    for size in reversed(shape):
        strides.append(step)
        step *= size
    return tuple(reversed(strides))  # built from the last dim: put it back in order


def flat_offset(index: Sequence[int], strides: Sequence[int]) -> int:
    return sum(i * s for i, s in zip(index, strides, strict=True))


def split_heads(x: Tensor, n_heads: int) -> Tensor:
    B, T, C = x.shape
    if C % n_heads != 0:
        raise ValueError(f"{C} channels cannot be split into {n_heads} equal heads")
    heads = x.view(B, T, n_heads, C // n_heads)  # (B, T, H, hd): splitting the last dim is a view
    return heads.transpose(1, 2)  # (B, H, T, hd)


def merge_heads(x: Tensor) -> Tensor:
    B, H, T, hd = x.shape
    # (B, T, H, hd) is not laid out in that order: copy it into order, then view
    return x.transpose(1, 2).contiguous().view(B, T, H * hd)
