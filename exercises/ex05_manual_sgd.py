"""ex05 · Manual SGD under no_grad (fill-in kata)

An optimizer step is plain arithmetic on the parameters, done outside autograd.
For every parameter p that received a gradient:

    p  <-  p - lr * (p.grad + weight_decay * p)

Weight decay is the gradient of an L2 penalty (weight_decay / 2) * ||p||^2, so it
joins the gradient before the step is scaled by lr. Your sgd_step must give the
same result as torch.optim.SGD(params, lr=lr, weight_decay=weight_decay).step().

What makes it subtle:
- The step must change the parameter tensor itself, in place (p -= ..., p.sub_(...)).
  The model holds that tensor; a new tensor made from it is not the model's.
- Autograd refuses in-place changes to a leaf tensor that requires grad, because the
  change would break the graph. The step is not part of the model, so turn autograd
  off for it: `with torch.no_grad():`. The params stay leaves, with no grad_fn.
- A parameter whose .grad is None got no gradient this time (unused in the loss, or
  frozen): skip it. Leave every .grad as it is; clearing gradients is zero_grad's job.
- `params` may be a one-shot generator such as model.parameters(): you can loop over
  it once only.

The pitfall: `p = p - lr * p.grad` inside a loop runs without error and does nothing
at all: it only points your loop variable at a new tensor.

fit_line puts the two together: full-batch gradient descent on the mean squared
error of y ≈ w * x + b, starting from w = b = 0. Each step: forward, loss,
backward, sgd_step, zero_grad (backward ADDS into .grad, so a gradient that is not
cleared leaks into every later step).
"""

from collections.abc import Iterable

from torch import Tensor


def sgd_step(params: Iterable[Tensor], lr: float, weight_decay: float = 0.0) -> None:
    """One SGD step, in place, for every param that has a .grad."""
    raise NotImplementedError


def zero_grad(params: Iterable[Tensor]) -> None:
    """Clear every param's gradient (set .grad to None)."""
    raise NotImplementedError


def fit_line(x: Tensor, y: Tensor, lr: float = 0.1, steps: int = 200) -> tuple[float, float]:
    """Fit y ≈ w * x + b by `steps` steps of gradient descent on the MSE.  x, y: (N,)

    Start from w = b = 0, use your sgd_step and zero_grad, and return (w, b) as Python floats.
    """
    raise NotImplementedError
