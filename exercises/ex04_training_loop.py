"""ex04 · Reorder the training loop (fix-the-bug kata)

`train` below holds every statement a training loop needs, but in the wrong order.
Reorder them; you should not need to add or remove a single one.

One training step on a batch (x, y) does five things:
    clear the gradients    optimizer.zero_grad()         every .grad becomes None
    forward                out = model(x)                x: (B, ...) -> out: (B, ...)
    loss                   loss = loss_fn(out, y)        a 0-dim tensor
    backward               loss.backward()               .grad += d loss / d parameter
    step                   optimizer.step()              updates each parameter from its .grad

Why the order matters: backward() ADDS to .grad instead of overwriting it, and step() uses
whatever .grad holds at that moment. So the gradients must be cleared before backward, and
backward must run before step. Keep the loss as a Python float (loss.item()): a loss tensor
keeps its whole autograd graph alive. And a model may come in eval mode (after an
evaluation), so call model.train() before training: dropout and batch norm depend on it.

The pitfall: clearing the gradients at the END of each step looks equivalent, but the first
step then also uses whatever gradients were already on the parameters when train() was
called. Clear them at the start.

`train` returns every step's loss, taken before that step's update:
epochs * len(batches) floats, in order.
"""

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
    """Train for `epochs` passes over `batches`; return every step's loss as a float.
    BUG: the right statements, in the wrong order."""
    losses = []
    for _ in range(epochs):
        for x, y in batches:  # x: (B, ...) inputs, y: (B, ...) targets
            optimizer.zero_grad()  # clear every .grad
            loss = loss_fn(model(x), y)  # forward and loss: a 0-dim tensor
            optimizer.step()  # update every parameter from its .grad
            loss.backward()  # .grad += d loss / d parameter
            losses.append(loss.item())  # the loss as a Python float
    model.train()  # training mode
    return losses
