"""ex07 · Views, strides and attention heads (fill-in kata)

A tensor is a flat block of memory plus a recipe for reading it: the shape,
and the STRIDES, how many elements to skip to move one step along each dim.
A contiguous (row-major) (2, 3, 4) tensor has strides (12, 4, 1): the last dim
is adjacent in memory, and one step along dim 0 jumps over a whole 3x4 block.
Element [i, j, k] lives at offset i*12 + j*4 + k*1.

view, transpose and permute never move data, they only write a new recipe:
    x.view(2, 12)      same memory, read as (2, 12): strides (12, 1)
    x.transpose(0, 1)  shape (3, 2, 4), strides (4, 12, 1): no longer row-major
That is why transposing is free, and why the result is not contiguous.

Attention splits the C channels of a (B, T, C) tensor into H heads of
hd = C // H channels each, head h owning channels [h*hd, (h+1)*hd), and wants
the heads as a batch dim: (B, H, T, hd). Split the last dim first (that is a
view), then move the head dim next to the batch dim (a transpose).

The pitfall: x.view(B, H, T, hd) has the right shape and the wrong contents,
it cuts the flat memory in the wrong places and mixes time steps into heads.
And after a transpose, .view to merge dims fails ("view size is not
compatible with input tensor's size and stride"): the data is not laid out in
the new order. .contiguous() copies it into that order first.
"""

from collections.abc import Sequence

from torch import Tensor


def row_major_strides(shape: Sequence[int]) -> tuple[int, ...]:
    """Strides of a contiguous tensor of this shape, as a tuple of ints.  (2, 3, 4) -> (12, 4, 1)"""
    raise NotImplementedError


def flat_offset(index: Sequence[int], strides: Sequence[int]) -> int:
    """Where element `index` lives in memory, counted in elements from the first one."""
    raise NotImplementedError


def split_heads(x: Tensor, n_heads: int) -> Tensor:
    """(B, T, C) -> (B, H, T, C // H); head h holds channels [h*hd, (h+1)*hd).

    Raises ValueError when C is not divisible by n_heads.
    """
    raise NotImplementedError


def merge_heads(x: Tensor) -> Tensor:
    """(B, H, T, hd) -> (B, T, H*hd), a contiguous tensor; the inverse of split_heads."""
    raise NotImplementedError
