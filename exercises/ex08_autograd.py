"""ex08 · Autograd and the chain rule (fill-in kata)

Autograd records every operation on tensors that require grad, building a graph
from the inputs to the result. L.backward() walks that graph backwards, applies
the chain rule at every node, and leaves dL/dx in x.grad for every leaf x (a
tensor you made yourself with requires_grad=True, such as a parameter).

The graph of this kata, for numbers a and b:

    c = a * b
    d = c + a
    L = d ** 2

a is used twice: inside c, and directly in d. When a value fans out like that,
the chain rule ADDS the gradients coming back along each path.

Pitfalls:
- dropping a fan-out path: at a=2, b=3 the answer is (dL/da, dL/db) = (64, 32);
  48 for dL/da means one path of a is missing;
- reading .grad of a non-leaf such as c: backward() keeps gradients of leaves
  only, so c.grad is None unless you call c.retain_grad() before backward().

Return Python floats: t.item() turns a one-element tensor into a number.
"""

from collections.abc import Callable

from torch import Tensor, nn


def derivative(f: Callable[[Tensor], Tensor], x: float) -> float:
    """f'(x), computed by autograd. f maps a 0-dim tensor to a 0-dim tensor."""
    raise NotImplementedError


def graph_grads(a: float, b: float) -> tuple[float, float]:
    """(dL/da, dL/db) for the graph above, by hand with the chain rule.

    No autograd here (no .backward(), no torch.autograd.grad): plain arithmetic.
    """
    raise NotImplementedError


def intermediate_grad(a: float, b: float) -> float:
    """dL/dc for the graph above, computed by autograd from tensors a and b."""
    raise NotImplementedError


def grad_norm(model: nn.Module) -> float:
    """The global L2 norm of all parameter gradients, taken together as one long vector.

    Parameters without a gradient (.grad is None) are skipped.
    """
    raise NotImplementedError
