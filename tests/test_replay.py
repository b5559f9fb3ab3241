"""The judge's replay of torch.optim (grader.replay) against torch.optim itself."""

from __future__ import annotations

import pytest
import torch

from grader.replay import ReplayedOptimizer

CASES = {
    "sgd": (torch.optim.SGD, {}),
    "sgd with momentum and weight decay": (torch.optim.SGD, {"momentum": 0.9, "weight_decay": 0.1}),
    "adamw": (torch.optim.AdamW, {"weight_decay": 0.1}),
    "adamw with other betas": (torch.optim.AdamW, {"betas": (0.8, 0.95), "eps": 1e-6}),
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
    kind, options = CASES[case]
    theirs, mine = (
        _params(torch.Generator().manual_seed(0)),
        _params(torch.Generator().manual_seed(0)),
    )
    adam = kind is torch.optim.AdamW
    replay_options = {"betas": options.get("betas", (0.9, 0.999))} if adam else {}
    weight_decay = options.get("weight_decay", 0.01 if adam else 0.0)  # torch.optim's defaults
    replay = ReplayedOptimizer(
        mine,
        lr=0.05,
        momentum=options.get("momentum", 0.0),
        weight_decay=weight_decay,
        eps=options.get("eps", 1e-8),
        **replay_options,
    )
    _train(kind(theirs, lr=0.05, **options), theirs, torch.Generator().manual_seed(1))
    _train(replay, mine, torch.Generator().manual_seed(1))
    for index, (want, got) in enumerate(zip(theirs, mine, strict=True)):
        assert torch.equal(got, want), f"param {index} after 6 steps: {(got - want).abs().max()}"
