"""ex23 · Epochs with validation: reference solution."""

from collections.abc import Callable, Iterable

import torch
from torch import Tensor, nn


def fit(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    train_loader: Iterable[tuple[Tensor, Tensor]],
    val_loader: Iterable[tuple[Tensor, Tensor]],
    epochs: int,
) -> list[tuple[float, float]]:
    history = []
    for _ in range(epochs):
        model.train()  # every epoch: the previous epoch's validation left it in eval mode
        loss_sum, seen = 0.0, 0
        for x, y in train_loader:  # x: (B, ...), y: (B,) class ids; the last B may be smaller
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)  # 0-dim: the mean over this batch's B examples
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(y)  # back to a sum, so a short batch weighs less
            seen += len(y)
        model.eval()  # dropout off, batch norm uses its running statistics
        correct, total = 0, 0
        with torch.no_grad():  # measuring only: no graph
            for x, y in val_loader:
                correct += int((model(x).argmax(dim=-1) == y).sum())  # (B, C) -> (B,)
                total += len(y)
        history.append((loss_sum / seen, correct / total))
    model.train()  # hand the model back ready to train
    return history
