"""ex09 · Stable softmax and log-softmax: reference solution."""

from torch import Tensor


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    exps = (x - x.amax(dim=dim, keepdim=True)).exp()  # (...): each slice's max becomes exp(0) = 1
    return exps / exps.sum(dim=dim, keepdim=True)  # (...) / (.., 1, ..): the sum is >= 1


def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    shifted = x - x.amax(dim=dim, keepdim=True)  # (...), all <= 0: exp cannot overflow
    return shifted - shifted.exp().sum(dim=dim, keepdim=True).log()  # never log of a tiny number


def logsumexp(x: Tensor, dim: int = -1, keepdim: bool = False) -> Tensor:
    top = x.amax(dim=dim, keepdim=True)  # (.., 1, ..)
    total = top + (x - top).exp().sum(dim=dim, keepdim=True).log()  # (.., 1, ..)
    return total if keepdim else total.squeeze(dim)
