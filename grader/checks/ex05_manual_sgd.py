"""Hidden checks for ex05_manual_sgd: the learner's step against torch.optim.SGD, fit_line
against full-batch gradient descent worked out here in float64."""

from __future__ import annotations

import math
from typing import Any

import torch

from grader.kit import (
    Failure,
    Misconception,
    close,
    distinct_sizes,
    expect,
    expect_number,
    expect_rule,
    expect_tensor,
    explain,
    fail,
    fmt_shape,
    observed,
    points,
    size,
    type_name,
    uniform,
)
from grader.rules import Rule

# the notebook's visible sanity test: torch and the kata's own names only
SANITY = """
import math
import torch
p = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
p.grad = torch.tensor([0.5, 0.5, -1.0])
sgd_step([p], lr=0.1, weight_decay=0.01)
expected = torch.tensor([0.949, -2.048, 3.097])  # p - 0.1 * (p.grad + 0.01 * p), by hand
assert torch.allclose(p.detach(), expected), "sgd_step should update p itself, in place"
w, b = fit_line(torch.tensor([0.0, 1.0, 2.0, 3.0]), torch.tensor([1.0, 3.0, 5.0, 7.0]))
assert math.isclose(w, 2.0, abs_tol=0.05), "fit_line should find w = 2 for y = 2x + 1"
assert math.isclose(b, 1.0, abs_tol=0.05), "fit_line should find b = 1 for y = 2x + 1"
"""

# fit_line is built from the learner's own pieces: decided from the source (the scenario's
# call counts are a second layer)
OWN_FUNCTIONS = Rule(("fit_line",), forbidden=("torch.optim",), required=("sgd_step", "zero_grad"))

REBINDING = Misconception(
    "ex05/rebinding",
    "The parameters did not change at all. `p = p - lr * p.grad` builds a new tensor and points "
    "your loop variable at it; the parameter itself is untouched. Change it in place: "
    "`p -= ...` or `p.sub_(...)`, inside `with torch.no_grad():`.",
)
NO_NO_GRAD = Misconception(
    "ex05/no-no-grad",
    "Autograd refuses to change a leaf tensor that requires grad in place, because it would "
    "corrupt the graph it records. The update is not part of the model: do it inside "
    "`with torch.no_grad():` (and leave requires_grad switched on).",
)
WRONG_SIGN = Misconception(
    "ex05/wrong-sign",
    "The parameters moved up the gradient. The gradient points where the loss grows; descent "
    "subtracts it: p -= lr * p.grad.",
)
NONE_GRAD = Misconception(
    "ex05/none-grad-crash",
    "A parameter's .grad is None until a backward pass reaches it (a layer unused in the loss, "
    "a frozen weight, or right after zero_grad). Skip those with `if p.grad is None: continue`, "
    "as torch.optim.SGD does: no gradient, no step, no weight decay either.",
)
WEIGHT_DECAY = Misconception(
    "ex05/weight-decay",
    "Weight decay is the gradient of (weight_decay / 2) * ||p||^2: it adds weight_decay * p to "
    "the gradient, and lr scales the sum: p -= lr * (p.grad + weight_decay * p), with p as it "
    "was before the step.",
)
GRADS_NOT_CLEARED = Misconception(
    "ex05/grads-not-cleared",
    "backward() adds into .grad. Unless the gradients are cleared, every step uses the sum of "
    "all gradients so far and (w, b) swing around the answer instead of settling. Call your "
    "zero_grad([w, b]) once every step (after sgd_step, or before backward), and make sure it "
    "really clears them.",
)
SUM_NOT_MEAN = Misconception(
    "ex05/sum-not-mean",
    "The loss is the sum of the squared errors, not their mean: its gradient is N times larger "
    "(N points), so every step is N times too long and (w, b) overshoot and blow up instead of "
    "settling. fit_line minimises the MEAN squared error: ((w * x + b - y) ** 2).mean().",
)
GRAD_MODIFIED = Misconception(
    "ex05/grad-modified",
    "sgd_step changed p.grad. A step only reads the gradients; other code may still read them "
    "(gradient clipping, logging), and clearing them is zero_grad's job. Writing into p.grad "
    "(p.grad += ..., p.grad.mul_(...)) changes them: build the step as a new tensor, "
    "lr * (p.grad + weight_decay * p).",
)
GENERATOR_REUSED = Misconception(
    "ex05/generator-reused",
    "Given a list your sgd_step works; given a generator such as model.parameters() it does "
    "not. A generator runs out after one pass, so a second loop over `params` sees nothing. "
    "Loop over params once, or make a list first: params = list(params).",
)

OBSERVATIONS = ("values", "grads", "same_memory", "leaf", "requires_grad")  # per param
LEAF_ERROR = r"leaf Variable that requires grad"
NONE_ERROR = r"NoneType"


def _case(rng: torch.Generator, without_grad: int = 0) -> tuple[list, list]:
    """Params shaped like a model's: a non-square and a square matrix, vectors, a scalar.
    `without_grad` of them (at random places) have .grad None."""
    rows, cols = distinct_sizes(rng, 2)
    shapes = [(rows, cols), (cols, cols), (rows,), (), (size(rng),)]
    values = [torch.randn(shape, generator=rng) for shape in shapes]
    grads = [torch.randn(shape, generator=rng) for shape in shapes]
    for i in torch.randperm(len(shapes), generator=rng)[:without_grad].tolist():
        grads[i] = None
    return values, grads


def _observations(seen: Any, count: int) -> dict[str, list]:
    """A report of step_params or clear_grads: each observation a list of one entry per param."""
    seen = observed(seen, dict, *OBSERVATIONS)
    for key in OBSERVATIONS:
        observed(seen[key], list, length=count)
    return seen


def _stepped(
    learner: Any, values: list, grads: list, lr: float, weight_decay: float | None, **kwargs: Any
) -> dict[str, list]:
    """The params after the learner's sgd_step (the scenario step_params), observed."""
    seen = learner.scenario("step_params", values, grads, lr, weight_decay, **kwargs)
    return _observations(seen, len(values))


def _torch_sgd(values: list, grads: list, lr: float, weight_decay: float) -> list:
    """What torch.optim.SGD makes of the same params: its single-tensor update, op for op.
    (Calling torch.optim.SGD here would cost seconds: its first step imports torch._dynamo.)"""
    stepped = []
    for value, grad in zip(values, grads, strict=True):
        if grad is None:  # no gradient: no step
            stepped.append(value)
            continue
        step = grad.add(value, alpha=weight_decay) if weight_decay else grad
        stepped.append(value.add(step, alpha=-lr))
    return stepped


def _call(what: str) -> str:
    return f"sgd_step(params, {what})"


def _step(
    learner: Any, values: list, grads: list, lr: float, weight_decay: float | None = None
) -> tuple[dict, str]:
    """Run the learner's sgd_step on params given as a generator, and check every param's value
    against torch.optim.SGD. Returns the observations and how the call reads."""
    call = _call(
        f"lr={lr:.4g}" + ("" if weight_decay is None else f", weight_decay={weight_decay:.4g}")
    )
    args = (values, grads, lr, weight_decay)
    with explain(NO_NO_GRAD, when=LEAF_ERROR), explain(NONE_GRAD, when=NONE_ERROR):
        obs = _stepped(learner, *args)
    decay = weight_decay or 0.0
    want = _torch_sgd(values, grads, lr, decay)
    if not all(
        close(got, expected, 1e-5, 1e-6) for got, expected in zip(obs["values"], want, strict=True)
    ):
        try:
            as_list = _stepped(learner, *args, as_list=True)["values"]
        except Failure:  # it fails with a list too: not the generator's fault
            as_list = []
        if as_list and all(close(g, e, 1e-5, 1e-6) for g, e in zip(as_list, want, strict=True)):
            fail(f"{call} with params given as a generator left them wrong", GENERATOR_REUSED)
    for i, (got, expected) in enumerate(zip(obs["values"], want, strict=True)):
        value, grad = values[i], grads[i]
        wrong: dict[Misconception, Any] = {}
        if grad is None:
            wrong[NONE_GRAD] = lambda g: True
        else:
            wrong[REBINDING] = value
            wrong[WRONG_SIGN] = value + lr * (grad + decay * value)
            if decay:  # the plain step is checked first with weight_decay 0
                wrong[WEIGHT_DECAY] = lambda g: True
        note = " (its .grad is None)" if grad is None else ""
        expect_tensor(
            got, expected, f"param {i} {fmt_shape(value.shape)}{note} after {call}", wrong=wrong
        )
    return obs, call


@points(2)
def test_step_updates_in_place(learner, rng):
    """sgd_step updates every parameter in place, like torch.optim.SGD"""
    values, grads = _case(rng)
    obs, call = _step(learner, values, grads, uniform(rng, 0.05, 0.5))
    for i, same in enumerate(obs["same_memory"]):
        expect(
            same,
            f"after {call}, param {i} holds new memory (p.data = ... or p.set_(...)) instead of "
            "being updated in place: anything sharing its memory (a tied weight, a view) keeps "
            "the old values. Change the tensor itself: p -= ... or p.sub_(...) under "
            "torch.no_grad().",
        )


@points(1)
def test_step_keeps_leaves_and_grads(learner, rng):
    """sgd_step keeps params as leaves that require grad, and leaves .grad alone"""
    values, grads = _case(rng)
    lr = uniform(rng, 0.05, 0.5)
    _step(learner, values, grads, lr)
    weight_decay = uniform(rng, 0.05, 0.5)  # decay added into p.grad in place shows here
    with explain(NO_NO_GRAD, when=LEAF_ERROR):
        obs = _stepped(learner, values, grads, lr, weight_decay)
    call = _call(f"lr={lr:.4g}, weight_decay={weight_decay:.4g}")
    for i, grad in enumerate(grads):
        expect(
            obs["leaf"][i],
            f"after {call}, param {i} is no longer a leaf (it has a grad_fn)",
            NO_NO_GRAD,
        )
        expect(
            obs["requires_grad"][i],
            f"after {call}, param {i} no longer requires grad, so the next backward() would "
            "give it no gradient",
            NO_NO_GRAD,
        )
        got = obs["grads"][i]
        expect(got is not None, f"after {call}, param {i}'s .grad is None", GRAD_MODIFIED)
        expect_tensor(
            got, grad, f"param {i}'s .grad after {call}", wrong={GRAD_MODIFIED: lambda g: True}
        )


@points(1)
def test_step_skips_missing_grads(learner, rng):
    """sgd_step skips params whose .grad is None"""
    values, grads = _case(rng, without_grad=2)
    lr = uniform(rng, 0.05, 0.5)
    _step(learner, values, grads, lr)
    weight_decay = uniform(rng, 0.05, 0.5)  # decay must not move a param without a gradient
    with explain(NONE_GRAD, when=NONE_ERROR), explain(NO_NO_GRAD, when=LEAF_ERROR):
        obs = _stepped(learner, values, grads, lr, weight_decay)
    call = _call(f"lr={lr:.4g}, weight_decay={weight_decay:.4g}")
    for i, grad in enumerate(grads):
        if grad is not None:
            continue
        what = f"param {i} {fmt_shape(values[i].shape)} (its .grad is None) after {call}"
        expect_tensor(obs["values"][i], values[i], what, wrong={NONE_GRAD: lambda g: True})
        expect(
            obs["grads"][i] is None,
            f"after {call}, param {i}'s .grad should still be None, got "
            f"{type_name(obs['grads'][i])}",
            NONE_GRAD,
        )


@points(2)
def test_step_weight_decay(learner, rng):
    """sgd_step applies weight decay like torch.optim.SGD"""
    values, grads = _case(rng)
    lr = uniform(rng, 0.05, 0.5)
    _step(learner, values, grads, lr, weight_decay=0.0)
    _step(learner, values, grads, lr, weight_decay=uniform(rng, 0.05, 0.5))


@points(1)
def test_zero_grad(learner, rng):
    """zero_grad clears every gradient"""
    values, grads = _case(rng, without_grad=1)
    with explain(NONE_GRAD, when=NONE_ERROR):
        obs = _observations(learner.scenario("clear_grads", values, grads), len(values))
    for i, value in enumerate(values):
        got = obs["grads"][i]
        cleared = got is None or (
            type(got) is torch.Tensor and got.shape == value.shape and not bool(got.any())
        )
        expect(
            cleared,
            f"after zero_grad(params), param {i}'s .grad should be None (or zeros), got "
            + (
                f"a tensor of shape {fmt_shape(got.shape)} with "
                f"{int(got.count_nonzero())} nonzero values"
                if type(got) is torch.Tensor
                else type_name(got)
            ),
        )
        expect_tensor(obs["values"][i], value, f"param {i} after zero_grad(params)")


def _gradient_descent(
    x: torch.Tensor,
    y: torch.Tensor,
    lr: float,
    steps: int,
    accumulate: bool = False,
    ascend: bool = False,
    summed: bool = False,
) -> tuple[float, float]:
    """Full-batch GD on mean((w x + b - y)^2) from w = b = 0, in float64. The mistakes: with
    `accumulate` gradients are never cleared; with `ascend` each step goes up the gradient;
    `summed` descends the sum of the squares instead of their mean."""
    # the mean squared error's gradient needs only these means: plain floats, fast to step
    x, y = x.double(), y.double()
    mx, my, mxx, mxy = (float(t.mean()) for t in (x, y, x * x, x * y))
    w = b = 0.0
    grad_w = grad_b = 0.0
    direction = 1.0 if ascend else -1.0
    scale = len(x) if summed else 1
    for _ in range(steps):
        fresh_w = scale * 2 * (w * mxx + b * mx - mxy)  # 2 mean((w x + b - y) x)
        fresh_b = scale * 2 * (w * mx + b - my)  # 2 mean(w x + b - y)
        grad_w = grad_w + fresh_w if accumulate else fresh_w
        grad_b = grad_b + fresh_b if accumulate else fresh_b
        w, b = w + direction * lr * grad_w, b + direction * lr * grad_b
    return w, b


def _line(rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Noisy points near a random line; x off-centre so w and b interact."""
    n = size(rng, 16, 48)
    x = torch.randn(n, generator=rng) + uniform(rng, -0.5, 0.5)
    w, b = uniform(rng, -2, 2), uniform(rng, -2, 2)
    return x, w * x + b + 0.1 * torch.randn(n, generator=rng)


def _same_run(got: float, want: float) -> bool:
    """`got` is where float32 gradient descent ends up when float64 GD ends at `want`: close,
    or both blown up (float32 overflows to inf, then nan, long before float64 does)."""
    if not math.isfinite(want) or abs(want) > 1e30:
        return not math.isfinite(got) or abs(got) > 1e30
    return math.isclose(got, want, rel_tol=1e-3, abs_tol=1e-3)


def _expect_line(got: Any, x: torch.Tensor, y: torch.Tensor, lr: float, steps: int, what: str):
    expect(
        type(got) is tuple and len(got) == 2,
        f"{what} should return a tuple (w, b), got {type_name(got)}"
        + (f" of length {len(got)}" if isinstance(got, (tuple, list)) else ""),
    )
    kinds = [type_name(value) for value in got]
    expect(
        all(type(value) in (float, int) for value in got),
        f"{what} should return (w, b) as Python floats, got ({kinds[0]}, {kinds[1]})"
        + (": call .item() on a one-element tensor" if "Tensor" in kinds else ""),
    )
    want = _gradient_descent(x, y, lr, steps)
    piled_up = _gradient_descent(x, y, lr, steps, accumulate=True)
    uphill = _gradient_descent(x, y, lr, steps, ascend=True)
    summed = _gradient_descent(x, y, lr, steps, summed=True)
    for i, name in enumerate("wb"):
        expect_number(
            got[i],
            want[i],
            f"{what}: {name}",
            rel=1e-4,
            abs_=1e-4,
            wrong={
                REBINDING: 0.0,  # never moved from the start
                WRONG_SIGN: lambda g: math.isclose(g, uphill[i], rel_tol=1e-3),
                GRADS_NOT_CLEARED: lambda g: math.isclose(
                    g, piled_up[i], rel_tol=1e-3, abs_tol=1e-3
                ),
                SUM_NOT_MEAN: lambda g: _same_run(g, summed[i]),
            },
        )


@points(2)
def test_fit_line(learner, rng):
    """fit_line returns (w, b) after `steps` steps of gradient descent on the MSE"""
    x, y = _line(rng)
    lr, steps = uniform(rng, 0.05, 0.15), size(rng, 10, 40)  # too few steps to converge
    with explain(NO_NO_GRAD, when=LEAF_ERROR):
        got = learner.fit_line(x, y, lr=lr, steps=steps)
    _expect_line(got, x, y, lr, steps, f"fit_line(x, y, lr={lr:.4g}, steps={steps})")
    with explain(NO_NO_GRAD, when=LEAF_ERROR):
        got = learner.fit_line(x, y)
    _expect_line(got, x, y, 0.1, 200, "fit_line(x, y) with its defaults lr=0.1, steps=200")


@points(1)
def test_fit_line_uses_your_functions(learner, rng):
    """fit_line calls your sgd_step and zero_grad every step"""
    x, y = _line(rng)
    lr, steps = uniform(rng, 0.05, 0.15), size(rng, 10, 40)
    expect_rule(
        learner.source, OWN_FUNCTIONS, "fit_line should use your sgd_step and zero_grad", None
    )
    with explain(NO_NO_GRAD, when=LEAF_ERROR):
        obs = learner.scenario("fit_line_counted", x, y, lr, steps)
    what = f"fit_line(x, y, lr={lr:.4g}, steps={steps})"
    calls = observed(observed(obs, dict, "calls", "result")["calls"], dict, "sgd_step", "zero_grad")
    stepped, cleared = calls["sgd_step"], calls["zero_grad"]
    expect(
        steps <= stepped <= 2 * steps,
        f"{what} called your sgd_step {stepped} times: call it once every step "
        "(not torch.optim.SGD or an update written inside fit_line)",
    )
    expect(
        cleared >= steps - 1,
        f"{what} called your zero_grad {cleared} times in {steps} steps",
        GRADS_NOT_CLEARED,
    )
    _expect_line(obs["result"], x, y, lr, steps, what)
