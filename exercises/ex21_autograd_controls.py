"""ex21 · Autograd controls: detach, retain_graph, vector backward, freezing (fill-in kata)

loss.backward() has switches that decide what it differentiates, what it keeps and
where gradients may flow. Each function here practises one of them.

1. Vector backward. backward() with no argument needs a scalar. For a non-scalar
   y = f(x), give a weight for every element of y: the gradient of (y * v).sum(),

       x (n, d) -> y = f(x) (m, k);  v (m, k), like y;  v^T J (n, d), like x

   is the vector-Jacobian product (VJP). y.backward(gradient=v) stores it in x.grad;
   torch.autograd.grad(y, x, grad_outputs=v) returns it and leaves x.grad alone.

2. retain_graph. backward() frees the tensors the graph saved for it as it goes, so
   a second backward through the same graph raises "Trying to backward through the
   graph a second time". loss.backward(retain_graph=True) keeps them. Gradients add
   up in .grad, IN PLACE: g = x.grad is the very tensor the next backward changes;
   g = x.grad.clone() is a snapshot.

3. detach. A bootstrapped (TD) target uses the model itself: target = r + gamma * V(s').
   The target must act as a constant, so that training moves V(s) toward it and
   does not drag the target along: target.detach(), or compute it under
   torch.no_grad().

4. Freezing. p.requires_grad_(False) makes autograd skip p: backward() gives it no
   gradient, and an optimizer skips a parameter whose .grad is None. torch.no_grad()
   freezes nothing: it only pauses graph recording inside its block. And p.detach()
   is a new tensor: flags set on it leave the model's parameter as it was.

5. numpy. t.numpy() shares t's memory, works only for a tensor on the CPU, and
   refuses one that requires grad (numpy cannot record a graph):
   t.detach().cpu().numpy().

Pitfall: f(x).sum().backward() is the VJP for v = all ones, not for your v, and
multiplying that gradient by v afterwards does not fix it: in general each output
depends on several inputs.
"""

from collections.abc import Callable, Sequence

import numpy as np
from torch import Tensor, nn


def vjp(f: Callable[[Tensor], Tensor], x: Tensor, v: Tensor) -> Tensor:
    """v^T J_f(x): the gradient of (f(x) * v).sum() with respect to x, shaped like x.

    f maps x to a non-scalar tensor shaped like v. x may or may not require grad;
    either way it is left as it came, without a .grad.
    """
    raise NotImplementedError


def grad_twice(f: Callable[[Tensor], Tensor], x: Tensor) -> tuple[Tensor, Tensor]:
    """Build loss = f(x).sum() once, call backward on it twice; return x.grad after the
    first call and after the second (twice the first). x is a leaf that requires grad."""
    raise NotImplementedError


def bootstrap_loss(
    model: nn.Module, x: Tensor, x_next: Tensor, reward: Tensor, gamma: float
) -> Tensor:
    """The mean over the batch of (model(x) - (reward + gamma * model(x_next))) ** 2,
    a 0-dim tensor, with the target a constant: gradients flow through model(x) only.

    x, x_next: (B, D) states; model maps (B, D) -> (B,); reward: (B,).
    """
    raise NotImplementedError


def freeze(model: nn.Module, prefixes: Sequence[str]) -> list[nn.Parameter]:
    """Stop every parameter whose name (as in model.named_parameters(), e.g. "encoder.0.weight")
    starts with one of prefixes from requiring grad. Return the parameters that still require
    grad afterwards, in model.parameters() order."""
    raise NotImplementedError


def to_numpy(t: Tensor) -> np.ndarray:
    """t's values as a numpy array of the same dtype and shape, for any t: one that requires
    grad, a view, a tensor on a GPU."""
    raise NotImplementedError
