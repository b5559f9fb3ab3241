"""ex19 · Embeddings are indexing: reference solution."""

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Embedding(nn.Module):
    def __init__(self, num_embeddings: int, embedding_dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(num_embeddings, embedding_dim))  # (V, D) ~ N(0, 1)

    def forward(self, ids: Tensor) -> Tensor:
        return self.weight[ids]  # (...) -> (..., D): a row per id, no one-hot


def onehot_matmul(ids: Tensor, weight: Tensor) -> Tensor:
    one_hot = F.one_hot(ids, num_classes=weight.shape[0]).to(weight.dtype)  # (..., V)
    return one_hot @ weight  # (..., V) @ (V, D) -> (..., D)
