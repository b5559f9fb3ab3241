"""Hidden checks for ex08_autograd: derivative by autograd, the chain rule by hand, a non-leaf
gradient with retain_grad, and the global gradient norm.

graph_grads is done by hand: that is decided from the source (BY_HAND); backward passes counted
in the worker (scenarios/ex08_autograd.py) are a second layer."""

import math
from typing import Any

import torch

from grader.kit import (
    Misconception,
    close,
    expect,
    expect_number,
    expect_rule,
    explain,
    observed,
    points,
    random_seed,
    seconds,
    type_name,
    uniform,
)
from grader.rules import Rule
from grader.worker.scenarios.ex08_autograd import model_with_grads

# the notebook's visible sanity test: torch and the kata's own names only
SANITY = """
import math
import torch
slope = derivative(torch.sin, 0.5)
assert math.isclose(slope, math.cos(0.5), rel_tol=1e-5), "derivative(torch.sin, 0.5): cos(0.5)"
da, db = graph_grads(2.0, 3.0)
assert math.isclose(da, 64.0) and math.isclose(db, 32.0), "graph_grads(2, 3) should be (64, 32)"
assert math.isclose(intermediate_grad(2.0, 3.0), 16.0), "intermediate_grad(2, 3): dL/dc = 2d = 16"
"""

BY_HAND = Rule(
    ("graph_grads",),
    forbidden=("torch.autograd", "torch.func", "functorch"),
    attributes=("backward", "grad", "autograd"),
)

MISSING_FAN_OUT_PATH = Misconception(
    "ex08/missing-fan-out-path",
    "a reaches L along two paths: through c = a * b, and directly as the second term of "
    "d = c + a. The chain rule adds the gradients of all paths: "
    "dL/da = dL/dd * (dd/dc * dc/da + dd/da) = 2d * (b + 1), not 2d * b.",
)
USED_AUTOGRAD = Misconception(
    "ex08/used-autograd",
    "graph_grads is where you do the chain rule yourself, with plain arithmetic: no .backward() "
    "and no torch.autograd.grad. Start from dL/dd = 2d and walk back to c, a and b.",
)
NO_AUTOGRAD = Misconception(
    "ex08/no-autograd",
    "Let autograd find this gradient: make a tensor with requires_grad=True, compute from it, "
    "call .backward() (or torch.autograd.grad) and read the gradient. Finite differences and "
    "formulas worked out by hand are not what this function practises.",
)
NO_REQUIRES_GRAD = Misconception(
    "ex08/no-requires-grad",
    "Autograd only records operations on tensors that require grad, so backward() found no graph. "
    "Create the input as torch.tensor(x, requires_grad=True) before computing from it.",
)
NO_RETAIN_GRAD = Misconception(
    "ex08/no-retain-grad",
    "c = a * b is not a leaf (it is computed from other tensors), and backward() keeps .grad "
    "only for leaves, so c.grad stays None. Call c.retain_grad() before backward().",
)
SUM_OF_NORMS = Misconception(
    "ex08/sum-of-norms",
    "The global norm treats all gradients as one long vector: the square root of the sum of "
    "every squared entry, over all parameters. Adding up per-parameter norms gives more than that.",
)
NONE_GRAD = Misconception(
    "ex08/none-grad-not-skipped",
    "A parameter that took no part in the loss, or is frozen (requires_grad=False), still has "
    ".grad None after backward(). Skip those: `if p.grad is not None`.",
)

# f (as the worker builds it, by the same name) and its exact derivative
FUNCTIONS = {
    "cube": ("x**3", lambda x: 3 * x**2),
    "x_sin_x": ("x * sin(x)", lambda x: math.sin(x) + x * math.cos(x)),
    "tanh": ("tanh(x)", lambda x: 1 - math.tanh(x) ** 2),
    "gaussian": ("exp(-x**2 / 2)", lambda x: -x * math.exp(-(x**2) / 2)),
}
FLOAT32_REL = 1e-5  # learners may compute in float32 or float64: both are right
F64 = torch.float64  # the random points are drawn in float64, then rounded to 3 digits


def _graph_point(rng: torch.Generator) -> tuple[float, float]:
    """Random (a, b) where 2d(b+1), 2d*b and 2d differ clearly, so a missing path shows."""
    while True:
        magnitude, sign = uniform(rng, 0.5, 3, F64), 1 if uniform(rng, -1, 1, F64) > 0 else -1
        a, b = magnitude * sign, uniform(rng, -3, 3, F64)
        if min(abs(b), abs(b + 1)) >= 0.5:
            return round(a, 3), round(b, 3)


def _describe(value: Any) -> str:
    if type(value) in (tuple, list):
        return f"a {type(value).__name__} of {len(value)} items"
    return type_name(value)


@points(2)
@seconds(30)  # a first call of torch.func.grad imports for several seconds
def test_derivative(learner, rng):
    """derivative computes f'(x) with autograd"""
    xs = {name: round(uniform(rng, -2, 2, F64), 3) for name in FUNCTIONS}
    with explain(NO_REQUIRES_GRAD, when="does not require grad"):
        seen = learner.scenario("derivatives", xs)
    seen = observed(seen, dict, "values", "backward_passes")
    values = observed(seen["values"], dict, *FUNCTIONS)
    passes = observed(seen["backward_passes"], dict, *FUNCTIONS)
    for name, (formula, exact) in FUNCTIONS.items():
        what = f"derivative(f, {xs[name]}) with f(x) = {formula}"
        expect(passes[name] > 0, f"{what} never ran a backward pass", NO_AUTOGRAD)
        expect_number(values[name], exact(xs[name]), what, rel=1e-4, abs_=1e-5)


@points(3)
def test_graph_grads(learner, rng):
    """graph_grads applies the chain rule by hand, both paths of a included"""
    for a, b in [(2.0, 3.0), _graph_point(rng), _graph_point(rng)]:
        what = f"graph_grads({a}, {b})"
        expect_rule(learner.source, BY_HAND, "ex08 asks you to apply the chain rule yourself",
                    USED_AUTOGRAD)  # fmt: skip
        seen = learner.scenario("watched_call", "graph_grads", a, b)
        seen = observed(seen, dict, "value", "backward_passes")
        expect(
            seen["backward_passes"] == 0,
            f"{what} ran autograd's backward pass: the point of this function is to apply "
            "the chain rule yourself.",
            USED_AUTOGRAD,
        )
        got = seen["value"]
        expect(
            type(got) in (tuple, list) and len(got) == 2,
            f"{what} should return a tuple (dL/da, dL/db), got {_describe(got)}",
        )
        d = a * b + a
        one_path = (2 * d * b, 2 * d)  # only through c, or only directly into d
        expect_number(
            got[0],
            2 * d * (b + 1),
            f"{what}[0] (dL/da)",
            rel=FLOAT32_REL,
            wrong={
                MISSING_FAN_OUT_PATH: lambda g: any(
                    math.isclose(g, v, rel_tol=FLOAT32_REL) for v in one_path
                )
            },
        )
        expect_number(got[1], 2 * d * a, f"{what}[1] (dL/db)", rel=FLOAT32_REL)


@points(2)
def test_intermediate_grad(learner, rng):
    """intermediate_grad reads dL/dc from autograd"""
    for a, b in [_graph_point(rng), _graph_point(rng)]:
        what = f"intermediate_grad({a}, {b})"
        with (
            explain(NO_RETAIN_GRAD, when="NoneType"),
            explain(NO_REQUIRES_GRAD, when="does not require grad"),
        ):
            seen = learner.scenario("watched_call", "intermediate_grad", a, b)
        seen = observed(seen, dict, "value", "backward_passes")
        expect(seen["value"] is not None, f"{what} returned None", NO_RETAIN_GRAD)
        expect(seen["backward_passes"] > 0, f"{what} never ran a backward pass", NO_AUTOGRAD)
        expect_number(seen["value"], 2 * (a * b + a), f"{what} (dL/dc)", rel=FLOAT32_REL)


@points(3)
def test_grad_norm(learner, rng):
    """grad_norm is the global L2 norm of all gradients, skipping None"""
    for _ in range(2):
        seed = random_seed(rng)
        model = model_with_grads(seed)
        grads = {name: p.grad for name, p in model.named_parameters()}
        present = [g.double() for g in grads.values() if g is not None]
        skipped = [name for name, g in grads.items() if g is None]
        what = (
            f"grad_norm of a model with {len(grads)} parameter tensors "
            f"({', '.join(skipped)} with .grad None)"
        )
        with explain(NONE_GRAD, when="NoneType"):
            seen = learner.scenario("grad_norm_of", seed)
        seen = observed(seen, dict, "value", "grads_after")
        sum_of_norms = sum(float(g.norm()) for g in present)
        expect_number(
            seen["value"],
            math.sqrt(sum(float(g.square().sum()) for g in present)),
            what,
            rel=FLOAT32_REL,
            wrong={SUM_OF_NORMS: lambda g: math.isclose(g, sum_of_norms, rel_tol=FLOAT32_REL)},
        )
        after = seen["grads_after"]
        for name, want in grads.items():
            got = after.get(name) if type(after) is dict else None
            unchanged = got is None if want is None else close(got, want)
            expect(
                unchanged,
                f"grad_norm changed {name}.grad: it should only measure the gradients, "
                "not modify them (no clipping, no in-place ops)",
            )
