"""ex19 · Embeddings are indexing (fill-in)

A token id is a row number. An embedding layer stores one learned vector per
id in a weight matrix W of shape (V, D) (V = vocabulary size, D = dimension),
and "embedding" a batch of ids just reads those rows:

    ids (B, T) int64  ->  W[ids]  (B, T, D)

Mathematically that equals one_hot(ids) @ W: a one-hot row has a single 1, so
the product picks one row of W. Both give the same values and gradients
(rows read twice get their gradients added), but the one-hot way builds a
(B, T, V) matrix first: with V = 50,000 and B*T = 4,096 that is 200 million
numbers to multiply by zero. Indexing reads just B*T rows.

Write Embedding like nn.Embedding: an nn.Parameter named `weight`, of shape
(num_embeddings, embedding_dim), drawn from N(0, 1) as nn.Embedding's is.
The name and the shape are what let nn.Embedding's state_dict load into it:
load_state_dict matches entries by name ("weight") and refuses a shape that
differs, while the initial values are simply overwritten. Then write
onehot_matmul the slow way, to see that it agrees.

Pitfall: F.one_hot returns int64, and an int64 @ float32 matmul is an error:
convert the one-hot to the weight's dtype first.
"""

import torch  # noqa: F401  (you will need it)
from torch import Tensor, nn


class Embedding(nn.Module):
    def __init__(self, num_embeddings: int, embedding_dim: int) -> None:
        super().__init__()
        raise NotImplementedError

    def forward(self, ids: Tensor) -> Tensor:
        """ids (...) int64 -> (..., embedding_dim)"""
        raise NotImplementedError


def onehot_matmul(ids: Tensor, weight: Tensor) -> Tensor:
    """The same rows as weight[ids], computed as one_hot(ids) @ weight.  (...) -> (..., D)"""
    raise NotImplementedError
