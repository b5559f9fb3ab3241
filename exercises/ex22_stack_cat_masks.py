"""ex22 · Stack, cat and masks (fill-in kata)

Two ways to put tensors together, and they differ by one dim:

    torch.stack(seqs)       B tensors (T, C) -> (B, T, C)   a NEW dim in front
    torch.cat(seqs, dim=0)  tensors (T_i, C) -> (T_1 + ... + T_B, C)   an existing dim grows

stack needs every tensor to have the same shape; cat only needs them to agree
on the dims it does not join. Sequences of different lengths cannot be
stacked as they are: pad each one to the longest, T_max, and keep a bool mask
of which positions are real, so later code can ignore the padding:

    lengths 3 and 1, T_max = 3         padded (2, 3, C)      mask (2, 3)
                                       [a0 a1 a2]            [T T T]
                                       [b0 p  p ]            [T F F]

A bool mask picks elements too. x[mask] (mask of x's shape) gives a 1-D
tensor of the elements where mask is True, in row-major order: its length is
mask.sum(), not x's shape. x.masked_fill(mask, value) keeps the shape and
replaces the masked elements, in a NEW tensor.

x.max(dim=-1) answers two questions at once: the largest value of each row
and where it is, as a pair (values, indices); indices are int64.

Pitfalls: torch.cat of B (T, C) tensors gives (B*T, C), a valid shape that
breaks later; x * mask keeps every position (zeros where mask is False)
instead of picking; masked_fill_ (trailing underscore) and x[mask] = 0 write
into the caller's tensor.
"""

from collections.abc import Sequence

from torch import Tensor


def batch_sequences(seqs: Sequence[Tensor]) -> Tensor:
    """B tensors of the same shape (T, C) -> one (B, T, C) batch, seqs[b] at index b.

    Raises ValueError when the shapes differ.
    """
    raise NotImplementedError


def join_sequences(seqs: Sequence[Tensor]) -> Tensor:
    """Tensors (T_i, C) -> (T_1 + ... + T_B, C): the sequences one after another in time."""
    raise NotImplementedError


def pad_sequences(seqs: Sequence[Tensor], pad_value: float = 0.0) -> tuple[Tensor, Tensor]:
    """Tensors (T_i, C) -> (padded, mask): padded (B, T_max, C), seqs[b] in padded[b, :T_b]
    and pad_value after it; mask (B, T_max) bool, True at real positions, False at padding."""
    raise NotImplementedError


def select(x: Tensor, mask: Tensor) -> Tensor:
    """The elements of x where mask (bool, x's shape) is True, as a 1-D tensor in row-major
    order."""
    raise NotImplementedError


def zero_where(x: Tensor, mask: Tensor) -> Tensor:
    """A copy of x with 0 where mask (bool, x's shape) is True; x itself unchanged."""
    raise NotImplementedError


def row_max(x: Tensor) -> tuple[Tensor, Tensor]:
    """(values, indices) of the max over the last dim.  x (..., C) -> values (...), indices
    (...) int64, with x[..., indices] == values."""
    raise NotImplementedError
