"""ex06 · Tensors, dtypes and ids: reference solution."""

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor


def to_ids(tokens: Sequence[str], vocab: Sequence[str]) -> Tensor:
    index = {word: i for i, word in enumerate(vocab)}  # one pass: O(1) lookups after
    ids = []
    for token in tokens:
        if token not in index:
            raise ValueError(f"unknown token {token!r}")
        ids.append(index[token])
    return torch.tensor(ids, dtype=torch.int64)  # (len(tokens),), int64 even when empty


def features_to_tensor(rows: Sequence[Sequence[float]]) -> Tensor:
    return torch.tensor(rows, dtype=torch.float32)  # (N, D): ints become floats too


def one_hot(ids: Tensor, num_classes: int) -> Tensor:
    classes = torch.arange(num_classes, device=ids.device)  # (C,)
    return (ids[..., None] == classes).float()  # (..., 1) == (C,) -> (..., C)


def from_numpy_shared(arr: np.ndarray) -> Tensor:
    return torch.from_numpy(arr)  # a view of arr's memory, same dtype
