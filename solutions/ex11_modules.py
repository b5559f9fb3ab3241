"""ex11 · nn.Module, parameters and buffers: reference solution."""

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class MLP(nn.Module):
    def __init__(self, sizes: Sequence[int]) -> None:
        super().__init__()
        # nn.ModuleList registers every layer: parameters(), state_dict() and .to() see them all
        self.layers = nn.ModuleList(
            nn.Linear(fan_in, fan_out)
            for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=False)
        )

    def forward(self, x: Tensor) -> Tensor:
        *hidden, last = self.layers
        for layer in hidden:
            x = torch.relu(layer(x))  # (..., sizes[i]) -> (..., sizes[i + 1])
        return last(x)  # no ReLU: the output may be negative


class RunningStandardize(nn.Module):
    def __init__(self, num_features: int, momentum: float = 0.1, eps: float = 1e-5) -> None:
        super().__init__()
        self.momentum, self.eps = momentum, eps
        # buffers: saved in state_dict and moved by .to(), but never trained
        self.register_buffer("running_mean", torch.zeros(num_features))  # (C,)
        self.register_buffer("running_var", torch.ones(num_features))  # (C,)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:
            return (x - self.running_mean) / torch.sqrt(self.running_var + self.eps)
        mean = x.mean(dim=0)  # (C,)
        var = x.var(dim=0, unbiased=False)  # (C,) biased: normalises this batch exactly
        with torch.no_grad():  # statistics, not part of the graph
            self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)
            # unbiased (N - 1): the running estimate of the data's variance, as BatchNorm keeps
            self.running_var.mul_(1 - self.momentum).add_(self.momentum * x.var(dim=0))
        return (x - mean) / torch.sqrt(var + self.eps)  # (N, C)
