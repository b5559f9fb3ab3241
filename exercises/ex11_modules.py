"""ex11 · nn.Module, parameters and buffers (fill-in kata)

An nn.Module keeps track of what you assign to it: an nn.Parameter or another
nn.Module stored as an attribute is *registered*, and from then on
.parameters(), state_dict(), .to(...) and .train()/.eval() all reach it.

1. MLP(sizes): a stack of nn.Linear(sizes[i], sizes[i + 1]) layers with a ReLU
   between neighbouring layers, but not after the last one (its output, e.g.
   logits, must be free to go negative). [4, 8, 3] means
       x (B, 4) -> Linear(4, 8) -> ReLU -> Linear(8, 3) -> (B, 3)

2. RunningStandardize(num_features, momentum, eps): nn.BatchNorm1d(num_features,
   affine=False) written by hand, for x of shape (N, C) with C = num_features.
   - training mode (self.training is True): normalise each column with the
     batch's own statistics, mean = x.mean(0) and the biased variance
     var = x.var(0, unbiased=False), all (C,):
         y = (x - mean) / sqrt(var + eps)                      # (N, C)
     (gradients flow back through mean and var too), and move the running
     statistics towards the batch's, outside autograd (torch.no_grad()):
         running_mean = (1 - momentum) * running_mean + momentum * mean
         running_var  = (1 - momentum) * running_var  + momentum * x.var(0)   # unbiased!
   - eval mode: y = (x - running_mean) / sqrt(running_var + eps), and the
     running statistics stay as they are.
   running_mean starts at zeros and running_var at ones, both (C,). They are
   not learned, so they are *buffers*, not parameters: register them with
   self.register_buffer(name, tensor). Buffers are saved in state_dict() and
   moved by .to(), but parameters() (and so the optimizer) never sees them.

The pitfall: a plain Python list of layers, or a plain tensor attribute, runs
fine, but nn.Module cannot see into it: self.layers = [nn.Linear(...), ...]
gives an MLP with no parameters to train. Use nn.ModuleList.
"""

from collections.abc import Sequence

import torch  # noqa: F401  (you will need it for the statistics)
from torch import Tensor, nn


class MLP(nn.Module):
    def __init__(self, sizes: Sequence[int]) -> None:
        super().__init__()
        # one nn.Linear(sizes[i], sizes[i + 1]) per neighbouring pair, registered
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        """(..., sizes[0]) -> (..., sizes[-1]), ReLU between the layers"""
        raise NotImplementedError


class RunningStandardize(nn.Module):
    def __init__(self, num_features: int, momentum: float = 0.1, eps: float = 1e-5) -> None:
        super().__init__()
        # buffers running_mean (C,) = 0 and running_var (C,) = 1
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        """(N, C) -> (N, C), standardised per column"""
        raise NotImplementedError
