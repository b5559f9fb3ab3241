"""ex02 · Fix the broadcasting bugs (fix-the-bug kata)

Every function below is wrong. Find the bug and fix it, without Python loops
(no for / while / comprehensions): broadcasting is the loop.

How broadcasting works: shapes are lined up from the RIGHT, and a dim of size
1 (or a missing dim) is stretched to match the other side. Two dims that
differ, neither of them 1, are an error.

    x (B, D) - m (B,)      lines m up with D, the columns: an error unless B == D
    x (B, D) - m (B, 1)    the column m is stretched across D: one value per row

The pitfall: when B == D the wrong version raises no error, it silently
computes something else (row i becomes x[i] - m, where x[i] - m[i] was
meant). Some bugs below raise on non-square inputs, and all of them run on
square ones. Always check shapes with a non-square example.

Tools: keepdim=True on reductions, x[:, None] or x.unsqueeze(1) to add an
axis, x.squeeze(1) or x.view(-1) to drop one, and .T for a transpose.
"""

from torch import Tensor


def center_rows(x: Tensor) -> Tensor:
    """Subtract each row's mean from that row.  x: (B, D) -> (B, D)"""
    return x - x.mean(dim=1)  # BUG: the (B,) means meet the columns


def scale_rows(x: Tensor, w: Tensor) -> Tensor:
    """Multiply row i of x by w[i].  x: (B, D), w: (B,) -> (B, D)"""
    return x * w  # BUG


def mse(pred: Tensor, target: Tensor) -> Tensor:
    """Mean squared error as a 0-dim tensor.  pred: (B, 1), target: (B,) -> ()"""
    return ((pred - target) ** 2).mean()  # BUG: what shape is pred - target?


def pairwise_sq_dists(a: Tensor, b: Tensor) -> Tensor:
    """Squared Euclidean distance between every a[i] and b[j].  a: (N, D), b: (M, D) -> (N, M)"""
    return ((a - b) ** 2).sum(-1)  # BUG


def batch_matvec(m: Tensor, v: Tensor) -> Tensor:
    """Row b of the result is m @ v[b].  m: (D, D), v: (B, D) -> (B, D)"""
    return m @ v  # BUG
