"""ex13 · Gradient accumulation (fill-in kata)

A batch of 256 may not fit in memory, while 4 micro-batches of 64 do. Gradient
accumulation runs them one after another and lets the gradients add up in .grad,
so that one optimizer step afterwards sees the same gradients as the whole batch
would have given.

It works because backward() ADDS into .grad instead of overwriting it:

    model.zero_grad()                          # once, before the first micro-batch
    for x, y in micro_batches:                 # x: (b, ...), y: (b, ...)
        loss = loss_fn(model(x), y)            # 0-dim: the mean over this micro-batch
        loss.backward()                        # .grad += d loss / d parameter

With a mean-reduction loss and k micro-batches of equal size b, the whole batch's
mean loss is the mean of the k micro-batch losses:

    mean over k*b examples = (loss_1 + ... + loss_k) / k

so each micro-batch must contribute loss_i / k, not loss_i.

Pitfalls:
- forgetting the 1/k: the gradients come out k times too big (the same as a k
  times larger learning rate for SGD);
- clearing the gradients inside the loop: only the last micro-batch's survive;
- returning a loss tensor: it keeps the whole graph and its saved activations
  alive. Return a Python float (loss.item()).
"""

from collections.abc import Callable, Sequence

from torch import Tensor, nn


def accumulate_gradients(
    model: nn.Module,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    micro_batches: Sequence[tuple[Tensor, Tensor]],
) -> float:
    """Clear the gradients, then accumulate them over the equal-size micro-batches so that
    every .grad equals the gradient of the mean loss over the whole batch. Return that mean
    loss as a Python float. Do not step: the caller does that."""
    raise NotImplementedError
