"""ex13 · Gradient accumulation: reference solution."""

from collections.abc import Callable, Sequence

from torch import Tensor, nn


def accumulate_gradients(
    model: nn.Module,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    micro_batches: Sequence[tuple[Tensor, Tensor]],
) -> float:
    model.zero_grad()  # once: stale gradients must not leak in
    k = len(micro_batches)
    total = 0.0
    for x, y in micro_batches:  # x: (b, ...), y: (b, ...)
        loss = loss_fn(model(x), y) / k  # 0-dim: this micro-batch's share of the mean
        loss.backward()  # .grad += d (loss_i / k) / d parameter
        total += loss.item()  # a float: the graph can be freed
    return total
