"""Hidden checks for ex04_training_loop: the learner's train() against the reference loop,
run here on the same seed-built model and batches, the optimizer's update replayed op for op
(grader.replay), compared to float32 rounding.

The model arrives in eval mode with stale gradients on its parameters. A wrong result is
diagnosed by running the usual wrong orders here too and seeing which one it matches.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch

from grader.kit import (
    Misconception,
    expect,
    explain,
    fail,
    observed,
    points,
    random_seed,
    size,
    uniform,
)
from grader.replay import ReplayedOptimizer
from grader.worker.scenarios.ex04_training_loop import OPTIMIZERS, build_model

# the notebook's visible sanity test: torch and the kata's own names only
SANITY = """
import torch
torch.manual_seed(0)
net = nn.Linear(3, 2)
opt = torch.optim.SGD(net.parameters(), lr=0.1)
losses = train(net, opt, nn.MSELoss(), [(torch.randn(4, 3), torch.randn(4, 2))], epochs=3)
assert len(losses) == 3 and all(isinstance(v, float) for v in losses), "want 3 losses, as floats"
assert losses[0] > losses[1] > losses[2], "the loss on the same batch should go down every step"
"""

NO_ZERO_GRAD = Misconception(
    "ex04/no-zero-grad",
    "Gradients are never cleared, so every backward() adds to the gradients of all the earlier "
    "batches and each step uses their running sum. Call optimizer.zero_grad() at the start of "
    "every step, before backward().",
)
ZERO_GRAD_BEFORE_STEP = Misconception(
    "ex04/zero-grad-before-step",
    "optimizer.zero_grad() runs between backward() and step(), so step() finds no gradients "
    "and the model does not learn. Clear the gradients first, before the forward pass.",
)
STEP_BEFORE_BACKWARD = Misconception(
    "ex04/step-before-backward",
    "optimizer.step() runs before loss.backward(), so each update uses whatever gradients were "
    "there before (stale ones, a previous batch's, or none), not this batch's; and once step() "
    'has changed the weights in place, backward() fails ("modified by an inplace operation") '
    "because it needs the values the forward pass used. The order is: zero_grad, forward, "
    "loss, backward, step.",
)
LOSS_TENSORS = Misconception(
    "ex04/loss-tensors",
    "The list holds loss tensors: each one keeps its whole autograd graph (and the "
    "activations it saved) alive for as long as the list lives. Store loss.item(), a float.",
)
NO_TRAIN_MODE = Misconception(
    "ex04/no-train-mode",
    "The model was not in training mode when it ran: it may arrive in eval mode (after an "
    "evaluation, say), where dropout and batch norm behave differently. Call model.train() "
    "once, before the loop.",
)
ZERO_GRAD_AFTER_STEP = Misconception(
    "ex04/zero-grad-after-step",
    "Gradients are cleared only after step(), so the first step also uses the gradients that "
    "were on the parameters before train() was called. Clear them at the start of each step, "
    "before backward().",
)

# One training step, as the operations done per batch, in order; "forward" is model + loss.
REFERENCE_ORDER = ("zero", "forward", "backward", "step")
WRONG_ORDERS = {
    NO_ZERO_GRAD: [("forward", "backward", "step")],
    ZERO_GRAD_BEFORE_STEP: [("forward", "backward", "zero", "step")],
    STEP_BEFORE_BACKWARD: [
        ("zero", "forward", "step", "backward"),
        ("forward", "step", "zero", "backward"),
        ("forward", "step", "backward", "zero"),
        ("forward", "step", "backward"),
    ],
    ZERO_GRAD_AFTER_STEP: [("forward", "backward", "step", "zero")],
}


def _setup(rng: torch.Generator, optimizer: str, loss: str, epochs: int | None) -> dict[str, Any]:
    low = 0.01 if optimizer == "adamw" else 0.05
    lr = uniform(rng, low, 4 * low)
    setup = {
        "seed": random_seed(rng),
        "optimizer": optimizer,
        "lr": lr,
        "loss": loss,
        "sizes": [size(rng, 2, 6), size(rng, 3, 8), size(rng, 2, 5)],
        "batch_size": size(rng, 2, 8),
        "n_batches": size(rng, 2, 4),
    }
    if epochs is not None:
        setup["epochs"] = epochs
    return setup


def _run_loop(setup: dict[str, Any], order: tuple[str, ...], set_to_none: bool = True) -> dict:
    """Train a fresh copy of the scenario's objects with one step = `order`; report like it."""
    model, loss_fn, batches = build_model(setup)
    name = setup["optimizer"]
    replay = ReplayedOptimizer.adamw if name == "adamw" else ReplayedOptimizer.sgd
    optimizer = replay(model.parameters(), setup["lr"], **OPTIMIZERS[name])
    model.train()
    losses = []
    for _ in range(setup.get("epochs", 1)):
        for x, y in batches:
            for op in order:
                if op == "zero":
                    optimizer.zero_grad(set_to_none=set_to_none)
                elif op == "forward":
                    loss = loss_fn(model(x), y)
                    losses.append(loss.item())
                elif op == "backward":
                    loss.backward()
                else:
                    optimizer.step()
    return {
        "losses": losses,
        "params": {n: p.detach().clone() for n, p in model.named_parameters()},
        "grads": {n: p.grad for n, p in model.named_parameters()},
    }


class Report(NamedTuple):
    """What train_once saw: the returned type, per-loss reports and their values, the final
    parameters and gradients, and the training flag at each forward pass."""

    returned: str
    losses: list[dict[str, Any]] | None
    values: list[float | None] | None
    params: dict[str, Any]
    grads: dict[str, Any]
    modes: list[bool]


def _float(value: Any) -> float | None:
    return value if type(value) is float else None  # the scenario sends a float or None


def _read(obs: Any) -> Report:
    obs = observed(obs, dict, "returned", "losses", "modes", "params", "grads")
    losses = obs["losses"]
    if losses is not None:
        losses = observed(losses, list, "type", "value", "graph")
    return Report(
        str(obs["returned"]),
        losses,
        None if losses is None else [_float(loss["value"]) for loss in losses],
        observed(obs["params"], dict),
        observed(obs["grads"], dict),
        observed(obs["modes"], list),
    )


def _same_tensor(got: Any, want: torch.Tensor | None) -> bool:
    want = torch.zeros(()) if want is None else want  # a cleared gradient: None or zeros alike
    got = torch.zeros(()) if got is None else got
    if type(got) is not torch.Tensor:
        return False
    if got.shape != want.shape:  # only a cleared gradient may stand for another shape
        return bool((got == 0).all()) and bool((want == 0).all())
    return torch.allclose(got.double(), want.double(), rtol=1e-5, atol=1e-7)


def _matches(got: Report, run: dict) -> bool:
    if got.values is None or len(got.values) != len(run["losses"]):
        return False
    return (
        all(
            v is not None and math.isclose(v, w, rel_tol=1e-5)
            for v, w in zip(got.values, run["losses"], strict=True)
        )
        and all(_same_tensor(got.params.get(n), p) for n, p in run["params"].items())
        and all(_same_tensor(got.grads.get(n), g) for n, g in run["grads"].items())
    )


def _diagnose(got: Report, setup: dict[str, Any]) -> Misconception | None:
    """The wrong order whose run the learner's run reproduces, if any."""
    for misconception, orders in WRONG_ORDERS.items():
        for order in orders:
            for set_to_none in (True, False):
                try:
                    run = _run_loop(setup, order, set_to_none)
                except RuntimeError:  # a step before backward changed what backward needs
                    continue
                if _matches(got, run):
                    return misconception
    return None


def _step(index: int, setup: dict[str, Any]) -> str:
    epoch, batch = divmod(index, setup["n_batches"])
    return f"step {index} (epoch {epoch}, batch {batch})"


def _expect_same_run(got: Report, setup: dict[str, Any], *, floats: bool) -> None:
    """Losses and final parameters equal the reference loop's (to float32 rounding);
    `floats`: returned as Python floats."""
    want = _run_loop(setup, REFERENCE_ORDER)
    steps = len(want["losses"])
    if got.values is None:
        fail(f"train should return a list of losses, got {got.returned}")
    expect(
        len(got.values) == steps,
        f"train should return one loss per step: {steps} ({setup.get('epochs', 1)} epoch(s) "
        f"of {setup['n_batches']} batches), got {len(got.values)}",
    )
    if floats:
        expect(got.returned == "list", f"train should return a list, got {got.returned}")
        for index, loss in enumerate(got.losses):
            if loss["type"] == "torch.Tensor":
                graph = ", each still holding its graph" if loss["graph"] else ""
                fail(f"train returned the losses as torch.Tensor{graph}", LOSS_TENSORS)
            expect(
                loss["type"] == "float",
                f"train should return Python floats, got {loss['type']} at {_step(index, setup)}",
            )
    for index, (value, expected) in enumerate(zip(got.values, want["losses"], strict=True)):
        if value is None or not math.isclose(value, expected, rel_tol=1e-5, abs_tol=1e-7):
            shown = "not a number" if value is None else f"{value:.8g}"
            fail(
                f"the loss of {_step(index, setup)} should be {expected:.8g} (computed before "
                f"that step's update), got {shown}",
                _diagnose(got, setup),
            )
    for name, expected in want["params"].items():
        param = got.params.get(name)
        if type(param) is not torch.Tensor or not _same_tensor(param, expected):
            fail(
                f"after training, parameter {name} differs from the reference loop's "
                "(zero_grad, forward, loss, backward, step on every batch)",
                _diagnose(got, setup),
            )


def _train_once(learner: Any, setup: dict[str, Any]) -> Report:
    # step() changes the weights in place; a later backward() needs their old values
    with explain(STEP_BEFORE_BACKWARD, when="modified by an inplace operation"):
        return _read(learner.scenario("train_once", setup))


@points(2)
def test_training_mode(learner, rng):
    """train puts the model in training mode before the first forward pass"""
    modes = _train_once(learner, _setup(rng, "sgd", "mse", epochs=2)).modes
    expect(len(modes) > 0, "train never ran the model")
    if not all(modes):
        fail(
            f"the model was in eval mode at {modes.count(False)} of {len(modes)} forward passes "
            f"(the first at forward pass {modes.index(False)})",
            NO_TRAIN_MODE,
        )


@points(2)
def test_losses_are_floats(learner, rng):
    """train returns every step's loss, taken before its update, as a Python float"""
    setup = _setup(rng, "sgd", "mse", epochs=None)  # the default: one epoch
    _expect_same_run(_train_once(learner, setup), setup, floats=True)


@points(2)
def test_sgd(learner, rng):
    """train with SGD matches the reference loop"""
    setup = _setup(rng, "sgd", "cross_entropy", epochs=size(rng, 2, 3))
    _expect_same_run(_train_once(learner, setup), setup, floats=False)


@points(2)
def test_sgd_momentum(learner, rng):
    """train with SGD and momentum matches the reference loop"""
    setup = _setup(rng, "momentum", "mse", epochs=size(rng, 2, 3))
    _expect_same_run(_train_once(learner, setup), setup, floats=False)


@points(2)
def test_adamw(learner, rng):
    """train with AdamW matches the reference loop"""
    setup = _setup(rng, "adamw", "cross_entropy", epochs=size(rng, 2, 3))
    _expect_same_run(_train_once(learner, setup), setup, floats=False)
