"""ex23 · Epochs with validation (fill-in kata)

The loop at the heart of most training scripts: each epoch trains on every batch of
train_loader, then measures on val_loader how well the model does on examples it does
not learn from, and notes one line of history.

    train_loader, val_loader: yield (x, y), x (B, ...) inputs, y (B,) int64 class ids
    model(x) -> (B, C) logits          loss_fn(logits, y) -> 0-dim, the MEAN over the batch

One epoch has two phases, with different switches:
- training: model.train() (dropout on, batch norm normalizes with the batch's statistics),
  then for each batch the usual step: zero_grad, forward, loss, backward, step. Note each
  step's loss (loss.item(), taken before the step changes the weights).
- validation: model.eval() (dropout off, batch norm uses its running averages) and
  `with torch.no_grad():` (no graph is recorded), with no backward and no step: this
  phase only measures. The predicted class is the argmax of the logits.

fit returns one (mean train loss, val accuracy) pair of Python floats per epoch.

Both means are over EXAMPLES. A DataLoader's last batch is usually short: 3 batches of
64 and one of 8 are 200 examples, and the mean of the four batch losses counts those 8
as much as 64. Weigh each batch's loss by its size (loss.item() * len(y)) and divide the
sum by the number of examples; count correct predictions the same way.

The pitfall: model.eval() stays on until something switches it back. If model.train()
runs only once, before the loop, every epoch after the first trains with dropout off.
Switch to train mode at the start of every epoch, and hand the model back in train mode.
"""

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
    """Train for `epochs` epochs, validating after each; return [(mean train loss, val
    accuracy), ...], one pair of floats per epoch. The model ends in train mode."""
    raise NotImplementedError
