"""Scenarios for ex18_sampling: batches of top_k_filter and sample_next calls in one job.

torch.Generator objects cannot cross to the worker, so the judge sends seeds and the scenario
builds a fresh generator from each. Every case reports its own outcome (the learner's value, or
its exception as data); the judge works out every expected value and decides."""

from __future__ import annotations

import types
from typing import Any

import torch

from ..runner import need
from .common import outcome


def filters(module: types.ModuleType, cases: list[tuple[torch.Tensor, int]]) -> list[dict]:
    """top_k_filter(logits, k) for each case, and whether the logits passed in were left as
    they were."""
    top_k_filter = need(module, "top_k_filter")
    reports = []
    for logits, k in cases:
        original = logits.clone()
        report = outcome(module, lambda logits=logits, k=k: top_k_filter(logits, k))
        report["unchanged"] = torch.equal(logits, original)
        reports.append(report)
    return reports


def draws(module: types.ModuleType, cases: list[dict[str, Any]]) -> list[dict]:
    """sample_next for each case {logits, temperature, top_k, seed, repeat}: the (R, V) logits
    tiled `repeat` times to (repeat * R, V), so row i is row i % R of the logits, and the
    generator torch.Generator().manual_seed(seed), or none where seed is None."""
    sample_next = need(module, "sample_next")

    def draw(case: dict[str, Any]) -> Any:
        seed = case["seed"]
        generator = None if seed is None else torch.Generator().manual_seed(seed)
        logits = case["logits"].repeat(case["repeat"], 1)
        return sample_next(
            logits, temperature=case["temperature"], top_k=case["top_k"], generator=generator
        )

    return [outcome(module, lambda case=case: draw(case)) for case in cases]
