"""ex20 · Train a classifier end to end: reference solution."""

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def train_classifier(X: Tensor, y: Tensor, num_classes: int, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)  # weight init is the only randomness: same seed, same model
    model = nn.Sequential(
        nn.Linear(X.shape[1], 64),
        nn.ReLU(),  # the nonlinearity that lets the boundary bend
        nn.Linear(64, 64),
        nn.ReLU(),
        nn.Linear(64, num_classes),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(200):  # full batch: a few thousand points make one cheap step
        optimizer.zero_grad()
        loss = F.cross_entropy(model(X), y)  # logits (N, C), y (N,)
        loss.backward()
        optimizer.step()
    return model.eval()
