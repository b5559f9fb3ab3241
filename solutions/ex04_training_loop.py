"""ex04 · Reorder the training loop: reference solution."""

from collections.abc import Callable, Iterable

import torch
from torch import Tensor, nn


def train(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    batches: Iterable[tuple[Tensor, Tensor]],
    epochs: int = 1,
) -> list[float]:
    model.train()  # the model may arrive in eval mode
    losses = []
    for _ in range(epochs):
        for x, y in batches:  # x: (B, ...) inputs, y: (B, ...) targets
            optimizer.zero_grad()  # first: drop stale gradients and the previous batch's
            loss = loss_fn(model(x), y)  # 0-dim tensor
            loss.backward()  # .grad = d loss / d parameter
            optimizer.step()  # reads .grad
            losses.append(loss.item())  # a float: the graph can be freed
    return losses
