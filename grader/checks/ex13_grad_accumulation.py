"""Hidden checks for ex13_grad_accumulation: the learner's accumulate_gradients runs in the worker
on a seed-built model with stale gradients; here the same objects are rebuilt and the gradients
of the mean loss over the whole (concatenated) batch are computed in float64 and compared.

A wrong set of gradients is diagnosed by comparing it, as a whole, with what each known mistake
produces: k times the gradients (or k / b times: divided by the micro-batch size b), only the
last micro-batch's, or the stale ones added on top."""

from __future__ import annotations

import copy
from typing import Any

import torch

from grader.kit import (
    Misconception,
    close,
    context,
    distinct_sizes,
    expect,
    expect_number,
    expect_tensor,
    fail,
    observed,
    points,
    random_seed,
    size,
)
from grader.worker.scenarios.ex13_grad_accumulation import build

# the notebook's visible sanity test: torch and the kata's own names only
SANITY = """
import math
import torch
torch.manual_seed(0)
net, loss_fn = torch.nn.Linear(3, 1), torch.nn.MSELoss()
xb, yb = torch.randn(4, 3), torch.randn(4, 1)  # one batch of 4, as 2 micro-batches of 2
mean_loss = accumulate_gradients(net, loss_fn, [(xb[:2], yb[:2]), (xb[2:], yb[2:])])
whole = loss_fn(net(xb), yb)  # the whole batch at once
assert math.isclose(mean_loss, whole.item(), rel_tol=1e-5), "return the whole batch's mean loss"
(expected,) = torch.autograd.grad(whole, net.weight)
assert torch.allclose(net.weight.grad, expected, atol=1e-6), "grads should be the whole batch's"
"""

NOT_DIVIDED = Misconception(
    "ex13/not-divided",
    "Each micro-batch loss is already a mean over its own examples, so backward() on k of them "
    "adds up k such gradients: k times the gradient of the whole batch's mean loss. Divide "
    "each micro-batch loss by the number of micro-batches before backward(), and return the "
    "mean of the k losses, not their sum.",
)
DIVIDED_BY_BATCH_SIZE = Misconception(
    "ex13/divided-by-batch-size",
    "Each micro-batch loss was divided by the number of examples, but loss_fn already took the "
    "mean over a micro-batch's examples. What is left to average is the k micro-batch means: "
    "divide each micro-batch loss by the number of micro-batches, len(micro_batches), not by "
    "the batch size.",
)
CLEARED_IN_LOOP = Misconception(
    "ex13/cleared-in-loop",
    "The gradients were cleared inside the loop, so each micro-batch wiped out the gradients of "
    "the ones before it and only the last micro-batch's is left. backward() adds into .grad, "
    "and accumulation relies on exactly that: clear once, before the loop.",
)
TENSOR_RETURNED = Misconception(
    "ex13/tensor-returned",
    "accumulate_gradients should return a Python float. A loss tensor keeps its autograd graph, "
    "and every activation that graph saved, alive for as long as anyone holds it. Add up "
    "loss.item() of each micro-batch instead.",
)
STALE_GRADS = Misconception(
    "ex13/stale-grads",
    "The gradients already on the parameters when accumulate_gradients was called are still in "
    "there, with the micro-batches' gradients added on top. backward() adds into .grad, so "
    "clear it first: model.zero_grad() before the loop.",
)
STEPPED = Misconception(
    "ex13/stepped",
    "accumulate_gradients changed the parameters. Its job ends with the accumulated gradients "
    "in .grad: the caller decides when to step (and may clip or log the gradients first), so "
    "no optimizer step and no parameter update in here.",
)

LOSS_NAMES = {"mse": "nn.MSELoss()", "cross_entropy": "nn.CrossEntropyLoss()"}


def _setup(rng: torch.Generator, loss: str) -> dict[str, Any]:
    # micro-batch size and count differ, so dividing by the wrong one shows
    micro_batch_size, n_micro_batches = distinct_sizes(rng, 2, 2, 6)
    return {
        "seed": random_seed(rng),
        "loss": loss,
        "sizes": [size(rng, 2, 6), size(rng, 3, 8), size(rng, 2, 5)],
        "micro_batch_size": micro_batch_size,
        "n_micro_batches": n_micro_batches,
    }


def _call(setup: dict[str, Any]) -> str:
    """The call, in the learner's words."""
    k, b = setup["n_micro_batches"], setup["micro_batch_size"]
    return (
        f"accumulate_gradients(model, {LOSS_NAMES[setup['loss']]}, micro_batches) with "
        f"{k} micro-batches of {b} examples"
    )


def _gradients(model: torch.nn.Module, loss_fn: Any, x: torch.Tensor, y: torch.Tensor) -> dict:
    """float64 gradients of loss_fn(model(x), y), returned as float32 like the learner's."""
    model.zero_grad(set_to_none=True)
    target = y.double() if y.is_floating_point() else y
    loss = loss_fn(model(x.double()), target)
    loss.backward()
    return {"loss": loss.item(), **{n: p.grad.float() for n, p in model.named_parameters()}}


def _expected(setup: dict[str, Any]) -> dict[str, Any]:
    """The whole batch's mean loss and gradients, and what the known mistakes leave instead."""
    model, loss_fn, micro_batches = build(setup)
    k = len(micro_batches)
    stale = {n: p.grad.clone() for n, p in model.named_parameters()}
    params = {n: p.detach().clone() for n, p in model.named_parameters()}
    exact = copy.deepcopy(model).double()
    xs, ys = zip(*micro_batches, strict=True)
    whole = _gradients(exact, loss_fn, torch.cat(xs), torch.cat(ys))
    last = _gradients(exact, loss_fn, *micro_batches[-1])
    loss = whole.pop("loss")
    last.pop("loss")
    scaled = {n: g * k for n, g in whole.items()}
    b = setup["micro_batch_size"]
    mistakes = [
        (NOT_DIVIDED, scaled),
        (DIVIDED_BY_BATCH_SIZE, {n: g * k / b for n, g in whole.items()}),  # by b
        (DIVIDED_BY_BATCH_SIZE, {n: g / b for n, g in whole.items()}),  # by k * b
        (CLEARED_IN_LOOP, last),
        (CLEARED_IN_LOOP, {n: g / k for n, g in last.items()}),
        (STALE_GRADS, {n: stale[n] + g for n, g in whole.items()}),
        (STALE_GRADS, {n: stale[n] + g for n, g in scaled.items()}),
    ]
    return {
        "loss": loss,
        "grads": whole,
        "stale": stale,
        "params": params,
        "mistakes": mistakes,
    }


def _run(learner: Any, setups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The worker's reports, one per setup."""
    reports = learner.scenario("accumulate", setups)
    for report in observed(reports, list, "returned", "grads", "params", length=len(setups)):
        observed(report["returned"], dict, "type", "value", "graph")
        observed(report["grads"], dict)
        observed(report["params"], dict)
    return reports


def _diagnose(grads: dict[str, Any], mistakes: list) -> Misconception | None:
    """The mistake whose gradients the learner's reproduce, all parameters at once."""
    for misconception, wrong in mistakes:
        if all(close(grads.get(n), g, rtol=1e-4, atol=1e-5) for n, g in wrong.items()):
            return misconception
    return None


def _expect_gradients(report: dict[str, Any], setup: dict[str, Any]) -> None:
    want = _expected(setup)
    grads = report["grads"]
    diagnosis = _diagnose(grads, want["mistakes"])
    with context(_call(setup)):
        for name, expected in want["grads"].items():
            got = grads.get(name)
            expect(
                got is not None,
                f"afterwards {name}.grad is None: the gradients should be left in .grad "
                "(was backward() called, and were the gradients cleared after it?)",
            )
            expect_tensor(
                got,
                expected,
                f"the gradient of {name}",
                rtol=1e-5,
                atol=1e-6,
                wrong={diagnosis: lambda _: True} if diagnosis else None,
            )


@points(2)
def test_returns_mean_loss(learner, rng):
    """accumulate_gradients returns the whole batch's mean loss as a Python float"""
    setups = [_setup(rng, "mse"), _setup(rng, "cross_entropy")]
    for setup, report in zip(setups, _run(learner, setups), strict=True):
        want = _expected(setup)
        returned = report["returned"]
        with context(_call(setup)):
            if returned["type"] == "torch.Tensor":
                graph = ", still holding its autograd graph" if returned["graph"] else ""
                fail(f"returned a torch.Tensor{graph}, not a Python float", TENSOR_RETURNED)
            expect(
                returned["type"] in ("float", "int"),
                f"should return a Python float, got {returned['type']}",
            )
            k, b, loss = setup["n_micro_batches"], setup["micro_batch_size"], want["loss"]
            expect_number(
                returned["value"],
                loss,
                "the returned loss (the mean over all examples of all micro-batches)",
                rel=1e-5,
                abs_=1e-7,
                wrong={
                    NOT_DIVIDED: lambda g: abs(g - k * loss) < 1e-5,
                    DIVIDED_BY_BATCH_SIZE: lambda g: (
                        min(abs(g - k * loss / b), abs(g - loss / b)) < 1e-5
                    ),
                },
            )


@points(3)
def test_gradients_mse(learner, rng):
    """with nn.MSELoss the gradients equal those of the mean loss over the whole batch"""
    setups = [_setup(rng, "mse"), _setup(rng, "mse")]
    for setup, report in zip(setups, _run(learner, setups), strict=True):
        _expect_gradients(report, setup)


@points(3)
def test_gradients_cross_entropy(learner, rng):
    """with nn.CrossEntropyLoss the gradients equal those of the mean loss over the whole batch"""
    setups = [_setup(rng, "cross_entropy"), _setup(rng, "cross_entropy")]
    for setup, report in zip(setups, _run(learner, setups), strict=True):
        _expect_gradients(report, setup)


@points(2)
def test_does_not_step(learner, rng):
    """accumulate_gradients leaves the parameters unchanged: it does not step"""
    setup = _setup(rng, "mse")
    (report,) = _run(learner, [setup])
    want = _expected(setup)
    grads = report["grads"]
    with context(_call(setup)):
        # leaving everything alone is no accumulation: some gradient must have been computed
        computed = any(
            type(grads.get(n)) is torch.Tensor
            and bool(grads[n].abs().sum() > 0)
            and not close(grads[n], stale, rtol=0, atol=0)
            for n, stale in want["stale"].items()
        )
        expect(computed, "left no new gradients on the parameters: nothing was accumulated")
        for name, before in want["params"].items():
            after = report["params"].get(name)
            expect(
                type(after) is torch.Tensor and after.shape == before.shape,
                f"parameter {name} no longer has shape {tuple(before.shape)}",
            )
            if not torch.equal(after, before):
                change = (after.double() - before.double()).abs().max().item()
                fail(f"changed parameter {name} (by up to {change:.3g})", STEPPED)
