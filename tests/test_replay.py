"""The judge's replay of torch.optim (grader.replay) against torch.optim itself."""

from __future__ import annotations

import pytest
import torch

from grader.replay import ReplayedOptimizer

CASES = {
    "sgd": (torch.optim.SGD, ReplayedOptimizer.sgd, {}),
    "sgd with momentum and weight decay": (
        torch.optim.SGD,
        ReplayedOptimizer.sgd,
        {"momentum": 0.9, "weight_decay": 0.1},
    ),
    "adamw": (torch.optim.AdamW, ReplayedOptimizer.adamw, {"weight_decay": 0.1}),
    "adamw's defaults": (torch.optim.AdamW, ReplayedOptimizer.adamw, {}),
    "adamw with other betas": (
        torch.optim.AdamW,
        ReplayedOptimizer.adamw,
        {"betas": (0.8, 0.95), "eps": 1e-6},
    ),
}


def _params(gen: torch.Generator) -> list[torch.Tensor]:
    shapes = [(3, 4), (4,), (4, 4), ()]
    return [torch.randn(shape, generator=gen).requires_grad_() for shape in shapes]


def _train(optimizer: object, params: list[torch.Tensor], gen: torch.Generator) -> None:
    """Six steps; some leave a param without a gradient, some zero them without clearing."""
    for step in range(6):
        optimizer.zero_grad(set_to_none=step % 2 == 0)
        for i, p in enumerate(params):
            if (step + i) % 3 != 0:  # every param misses a step now and then
                p.grad = torch.randn(p.shape, generator=gen)
        optimizer.step()


@pytest.mark.parametrize("case", CASES)
def test_replay_matches_torch_optim_bit_for_bit(case):
    kind, replayed, options = CASES[case]
    theirs, mine = (_params(torch.Generator().manual_seed(0)) for _ in range(2))
    replay = replayed(mine, lr=0.05, **options)  # the same options, the same defaults
    _train(kind(theirs, lr=0.05, **options), theirs, torch.Generator().manual_seed(1))
    _train(replay, mine, torch.Generator().manual_seed(1))
    for index, (want, got) in enumerate(zip(theirs, mine, strict=True)):
        assert torch.equal(got, want), f"param {index} after 6 steps: {(got - want).abs().max()}"
