"""ex09 · Stable softmax and log-softmax (fill-in kata)

softmax turns a slice of scores into probabilities along one dim:

    softmax(x)_i = exp(x_i) / sum_j exp(x_j)

Written exactly like that it breaks on ordinary inputs: in float32 exp(89.0)
is inf and exp(-104.0) is 0, so large scores give inf / inf = nan and very
negative ones give 0 / 0 = nan. The way out: adding the same number to every
score of a slice does not change its softmax, so pick the number that makes
exp safe.

The same idea gives the log-sum-exp trick, with m the largest x_j of the slice:

    logsumexp(x) = log(sum_j exp(x_j)) = m + log(sum_j exp(x_j - m))

log_softmax(x) is log(softmax(x)) in exact arithmetic; work out a formula
from the line above that never forms softmax.

Shapes: x may have any number of dims, and `dim` (negative counts from the
end) is the one you normalise over. softmax and log_softmax keep x's shape;
logsumexp drops `dim`: (A, B, C) with dim=1 -> (A, C), or (A, 1, C) with keepdim=True.

Pitfall: x.amax(dim) drops `dim`, so `x - x.amax(dim)` lines the maxima up with
the wrong axes (an error, or silently wrong numbers when sizes coincide).
Reductions you broadcast back against x need keepdim=True.

Entries equal to -inf (masked-out scores) must work: they get probability 0.
Build these from amax, exp, sum and log: torch.softmax, F.softmax,
torch.log_softmax, torch.logsumexp and their Tensor methods are off limits.
"""

from torch import Tensor


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    """Probabilities along `dim`: non-negative, each slice sums to 1.  x: (...) -> same shape"""
    raise NotImplementedError


def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    """log(softmax(x, dim)), computed stably.  x: (...) -> same shape"""
    raise NotImplementedError


def logsumexp(x: Tensor, dim: int = -1, keepdim: bool = False) -> Tensor:
    """log(sum(exp(x))) along `dim`, computed stably.  x: (...) -> (...) without `dim`"""
    raise NotImplementedError
