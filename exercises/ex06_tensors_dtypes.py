"""ex06 · Tensors, dtypes and ids (fill-in kata)

Before a model sees data, text becomes integer ids, feature rows become a
float matrix, and ids often become one-hot vectors. Each step has a dtype
that matters:

    token ids         int64     what nn.Embedding and cross-entropy targets expect
    features, one-hot float32   what nn.Linear weights are, and what autograd needs

torch.tensor infers the dtype from the Python values: ints give int64 and
floats give float32. So torch.tensor([[1, 2], [3, 4]]) is int64, and int
tensors fail quietly: x[0, 0] = 0.7 stores 0, they cannot require grad, and
nn.Linear refuses them. Say the dtype you want: dtype=torch.float32.

Memory: torch.tensor(arr) always copies a numpy array; torch.from_numpy(arr)
wraps the same memory (same dtype, no copy), so a change to one shows in
the other. A conversion is not always a copy either: t.float() or
t.to(torch.float32) on a tensor that is already float32 returns t itself,
the same object (so torch.from_numpy(arr).float() still shares a float32
arr's memory, and copies a float64 one). Call .clone() when you need a copy.

The pitfall: looking each token up with vocab.index(token) scans the whole
list every time. For 50,000 tokens and a 50,000-word vocabulary that is over
a billion comparisons; build a dict {word: id} once and each lookup is O(1).
"""

from collections.abc import Sequence

import numpy as np
from torch import Tensor


def to_ids(tokens: Sequence[str], vocab: Sequence[str]) -> Tensor:
    """The position of each token in vocab.  -> (len(tokens),) int64

    Raise ValueError naming the token when one is not in vocab. Must run in linear time.
    """
    raise NotImplementedError


def features_to_tensor(rows: Sequence[Sequence[float]]) -> Tensor:
    """N rows of D numbers (floats or ints) as an (N, D) float32 tensor."""
    raise NotImplementedError


def one_hot(ids: Tensor, num_classes: int) -> Tensor:
    """ids (...) int64 in [0, num_classes) -> (..., num_classes) float32, 1.0 at each id."""
    raise NotImplementedError


def from_numpy_shared(arr: np.ndarray) -> Tensor:
    """A tensor that shares arr's memory (and so its dtype): no copy."""
    raise NotImplementedError
