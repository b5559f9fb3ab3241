"""Hidden checks for ex21_autograd_controls: a vector-Jacobian product, two backward passes through
one graph, a bootstrapped loss with a constant target, freezing by name, and tensors to numpy.

The learner's functions run in the worker on objects the scenarios build (functions by name, a
seed-built value network, a model to freeze, tensors that require grad or are views); here the
same objects are rebuilt and every expected value is computed in float64 by torch itself."""

from __future__ import annotations

from typing import Any

import torch

from grader.kit import (
    Misconception,
    case_value,
    close,
    context,
    distinct_sizes,
    expect,
    expect_tensor,
    explain,
    fail,
    fmt_shape,
    observed,
    points,
    random_seed,
    size,
    type_name,
    uniform,
)
from grader.worker.scenarios.ex21_autograd_controls import (
    FUNCTIONS,
    TO_NUMPY_KINDS,
    build_tower,
    build_value_net,
    to_numpy_input,
)

# the notebook's visible sanity test: torch and the kata's own names only
SANITY = """
import numpy as np
import torch
from torch import nn
x = torch.tensor([1.0, 2.0, 3.0])
g = vjp(lambda t: t.cumsum(0), x, torch.tensor([0.0, 0.0, 1.0]))  # the last sum uses every x
assert torch.allclose(g, torch.ones(3)) and x.grad is None, "vjp: v^T J, and x left alone"
first, second = grad_twice(lambda t: t**2, torch.tensor([1.0, -2.0], requires_grad=True))
assert torch.allclose(first, torch.tensor([2.0, -4.0])), "grad_twice: 2x after one backward"
assert torch.allclose(second, 2 * first), "grad_twice: gradients add up over two backward passes"
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(2, 1), nn.Flatten(0))  # (B, 2) -> (B,)
x, x_next, reward = torch.randn(4, 2), torch.randn(4, 2), torch.randn(4)
loss = bootstrap_loss(model, x, x_next, reward, 0.9)
loss.backward()
target = (reward + 0.9 * model(x_next)).detach()
(expected,) = torch.autograd.grad(((model(x) - target) ** 2).mean(), model[0].weight)
assert torch.allclose(model[0].weight.grad, expected), "bootstrap_loss: the target is a constant"
net = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
kept = freeze(net, ["0"])
assert not net[0].weight.requires_grad and not net[0].bias.requires_grad, "freeze: net[0] frozen"
assert len(kept) == 2 and kept[0] is net[1].weight and kept[1] is net[1].bias, "the trainable ones"
a = to_numpy(torch.arange(6.0, requires_grad=True).reshape(2, 3).T)
assert type(a) is np.ndarray and a.dtype == np.float32 and a.shape == (3, 2), "to_numpy"
"""

SUMMED_OUTPUT = Misconception(
    "ex21/summed-output",
    "This is the gradient of f(x).sum(): every output weighted by 1, whatever v says (weighting "
    "the gradient by v afterwards does not fix it: each output depends on several inputs). The "
    "vector-Jacobian product weights output i by v[i] BEFORE the chain rule: "
    "y.backward(gradient=v), or torch.autograd.grad(y, x, grad_outputs=v).",
)
NO_REQUIRES_GRAD = Misconception(
    "ex21/no-requires-grad",
    "x came in without requires_grad, so autograd recorded no graph from it and has nothing to "
    "differentiate. Make a leaf of your own that requires grad, x_ = x.detach().requires_grad_(), "
    "compute f(x_) and differentiate with respect to x_.",
)
GRAD_LEFT_ON_X = Misconception(
    "ex21/grad-left-on-x",
    "vjp changed the caller's x: backward() stores the gradient in x.grad (and a later backward "
    "adds to it), and requires_grad_() flips the caller's flag. Differentiate a copy, "
    "x.detach().requires_grad_(), or use torch.autograd.grad, which returns the gradient "
    "instead of storing it.",
)
NO_RETAIN_GRAPH = Misconception(
    "ex21/no-retain-graph",
    "backward() frees the tensors the graph saved for the backward pass as soon as it has used "
    "them, so a second backward through the same graph has nothing to work with. Keep them for "
    "the second pass: loss.backward(retain_graph=True) the first time.",
)
GRAPH_REBUILT = Misconception(
    "ex21/graph-rebuilt",
    "grad_twice called f more than once, so each backward ran through a new graph: that avoids "
    "the error without meeting what it is about. Build loss = f(x).sum() once and call "
    "loss.backward(retain_graph=True), then loss.backward(), on that same loss.",
)
GRAD_NOT_CLONED = Misconception(
    "ex21/grad-not-cloned",
    "The first value already holds the sum of both passes: x.grad is one tensor that backward() "
    "adds into in place, so `first = x.grad` is a second name for it, not a snapshot. Take "
    "first = x.grad.clone() before the second backward.",
)
TARGET_NOT_DETACHED = Misconception(
    "ex21/target-not-detached",
    "Gradients also flowed through model(x_next), the target: an update then pulls the target "
    "toward the prediction as well as the prediction toward the target, so the model chases its "
    "own tail. A bootstrapped target is a constant: compute it under torch.no_grad(), or call "
    ".detach() on it.",
)
NOTHING_FROZEN = Misconception(
    "ex21/nothing-frozen",
    "Nothing was frozen: the parameters under the prefixes still require grad, so the "
    "optimizer still trains them. torch.no_grad() only pauses graph recording for the code "
    "inside its block and changes no parameter; p.detach() and copies are new tensors, so "
    "setting their flag leaves the model's own untouched. Call p.requires_grad_(False) on the "
    "parameters that model.named_parameters() yields.",
)
NUMPY_REQUIRES_GRAD = Misconception(
    "ex21/numpy-requires-grad",
    "numpy cannot record operations for autograd, so .numpy() refuses a tensor that requires "
    "grad. Cut it out of the graph first: t.detach().cpu().numpy() (.cpu() for tensors on a "
    "GPU), or t.numpy(force=True), which does both.",
)

# torch's messages for those mistakes
NO_GRAPH = r"does not require grad"
GRAPH_FREED = r"backward through the graph a second time"
NUMPY_REFUSED = r"numpy\(\) on Tensor that requires grad"

FORMULAS = {
    "cumsum_squared": "x.cumsum(0) ** 2",
    "softmax": "x.softmax(-1)",
    "tanh_gram": "tanh(x) @ x.T",
    "x_sin_x": "x * sin(x)",
}
FREEZE_PREFIXES = ("embed", "encoder", "encoder.0", "encoder.2.weight", "norm", "head", "head.bias")


def _gradient(name: str, x: torch.Tensor, v: torch.Tensor | None) -> torch.Tensor:
    """v^T J of FUNCTIONS[name] at x (v None: all ones), computed in float64, in x's dtype."""
    x64 = x.double().requires_grad_(True)
    y = FUNCTIONS[name](x64)
    weighted = y.sum() if v is None else (y * v.double()).sum()  # (): no grad_outputs, whose
    (grad,) = torch.autograd.grad(weighted, x64)  # first use imports for seconds
    return grad.to(x.dtype)


def _describe(value: Any) -> str:
    if type(value) in (tuple, list):
        return f"a {type(value).__name__} of {len(value)} items"
    return type_name(value)


# ---------------------------------------------------------------- vjp


def _vjp_case(rng: torch.Generator, name: str, requires_grad: bool) -> dict[str, Any]:
    n, d = distinct_sizes(rng, 2, 2, 7)
    x = torch.randn(n, d, generator=rng)
    v = torch.randn(FUNCTIONS[name](x).shape, generator=rng)
    return {"f": name, "x": x, "v": v, "requires_grad": requires_grad}


def _vjp_call(case: dict[str, Any]) -> str:
    grad = ", requires_grad=True" if case["requires_grad"] else ""
    return (
        f"vjp(f, x {fmt_shape(case['x'].shape)}{grad}, v {fmt_shape(case['v'].shape)}) "
        f"with f(x) = {FORMULAS[case['f']]}"
    )


def _run_vjp(learner: Any, cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    reports = learner.scenario("vjp_cases", cases)
    return observed(reports, list, "outcome", "x_grad", "x_requires_grad", length=len(cases))


@points(2)
def test_vjp(learner, rng):
    """vjp returns v^T J: each output weighted by v, shaped like x"""
    cases = [_vjp_case(rng, name, False) for name in ("cumsum_squared", "softmax", "tanh_gram")]
    for case, report in zip(cases, _run_vjp(learner, cases), strict=True):
        what = _vjp_call(case)
        with explain(NO_REQUIRES_GRAD, when=NO_GRAPH):
            got = case_value(report["outcome"], what)
        x, v = case["x"], case["v"]
        summed = _gradient(case["f"], x, None)
        oracles: tuple[Any, ...] = (summed,)
        if v.shape == x.shape:
            oracles += (summed * v,)
        expect_tensor(
            got,
            _gradient(case["f"], x, v),
            what,
            rtol=1e-4,
            atol=1e-5,
            wrong={SUMMED_OUTPUT: oracles},
        )


@points(1)
def test_vjp_leaves_x_alone(learner, rng):
    """vjp leaves the caller's x without a .grad"""
    names = list(FUNCTIONS)
    cases = [
        _vjp_case(rng, names[int(torch.randint(len(names), (), generator=rng))], requires_grad)
        for requires_grad in (True, False)
    ]
    for case, report in zip(cases, _run_vjp(learner, cases), strict=True):
        what = _vjp_call(case)
        with explain(NO_REQUIRES_GRAD, when=NO_GRAPH):
            case_value(report["outcome"], what)
        with context(what):
            expect(
                report["x_grad"] is None,
                "afterwards x.grad is set: the gradient should be returned, not stored in x.grad",
                GRAD_LEFT_ON_X,
            )
            expect(
                report["x_requires_grad"] is case["requires_grad"],
                f"afterwards x.requires_grad is {report['x_requires_grad']}: the caller's flag "
                "should stay as it was",
                GRAD_LEFT_ON_X,
            )


# ---------------------------------------------------------------- grad_twice


@points(2)
def test_grad_twice(learner, rng):
    """grad_twice returns x.grad after one and after two backward passes through one graph"""
    cases = []
    for name in ("x_sin_x", "tanh_gram", "cumsum_squared"):
        n, d = distinct_sizes(rng, 2, 2, 7)
        cases.append({"f": name, "x": torch.randn(n, d, generator=rng)})
    reports = learner.scenario("grad_twice_cases", cases)
    reports = observed(reports, list, "outcome", "f_calls", length=len(cases))
    for case, report in zip(cases, reports, strict=True):
        x = case["x"]
        what = (
            f"grad_twice(f, x {fmt_shape(x.shape)}, requires_grad=True) "
            f"with f(x) = {FORMULAS[case['f']]}"
        )
        with explain(NO_RETAIN_GRAPH, when=GRAPH_FREED):
            got = case_value(report["outcome"], what)
        with context(what):
            calls = report["f_calls"]
            expect(calls != 0, "never called f")
            expect(calls == 1, f"called f {calls} times", GRAPH_REBUILT)
            expect(
                type(got) in (tuple, list) and len(got) == 2,
                f"should return a tuple (first, second), got {_describe(got)}",
            )
            once = _gradient(case["f"], x, None)  # the gradient of f(x).sum()
            expect_tensor(
                got[0],
                once,
                "the first value (x.grad after one backward)",
                rtol=1e-4,
                atol=1e-5,
                wrong={GRAD_NOT_CLONED: 2 * once},
            )
            expect_tensor(
                got[1], 2 * once, "the second value (x.grad after two)", rtol=1e-4, atol=1e-5
            )


# ---------------------------------------------------------------- bootstrap_loss


class BootstrapSetup:
    """A value network's seed and sizes, a batch of transitions and a discount."""

    def __init__(self, rng: torch.Generator) -> None:
        self.seed = random_seed(rng)
        batch, *self.sizes = distinct_sizes(rng, 3, 2, 8)  # B, d_in, hidden
        self.x = torch.randn(batch, self.sizes[0], generator=rng)
        self.x_next = torch.randn(batch, self.sizes[0], generator=rng)
        self.reward = torch.randn(batch, generator=rng)
        self.gamma = round(uniform(rng, 0.5, 0.99), 3)
        self.what = (
            f"bootstrap_loss(model, x {fmt_shape(self.x.shape)}, x_next, "
            f"reward ({batch},), gamma={self.gamma})"
        )

    def run(self, learner: Any) -> dict[str, Any]:
        with context(self.what):
            report = learner.scenario(
                "bootstrap", self.seed, self.sizes, self.x, self.x_next, self.reward, self.gamma
            )
        keys = ("type", "value", "requires_grad", "grads_before", "grads", "grad_error")
        return observed(report, dict, *keys)

    def reference(self, detach: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The loss and its gradients in float64 (as float32), the target detached or not."""
        model = build_value_net(self.seed, self.sizes).double()
        target = self.reward.double() + self.gamma * model(self.x_next.double())  # (B,)
        if detach:
            target = target.detach()
        loss = ((model(self.x.double()) - target) ** 2).mean()
        names, params = zip(*model.named_parameters(), strict=True)
        grads = torch.autograd.grad(loss, params)
        return loss.float(), {n: g.float() for n, g in zip(names, grads, strict=True)}


@points(1)
def test_bootstrap_value(learner, rng):
    """bootstrap_loss is the mean squared TD error"""
    setup = BootstrapSetup(rng)
    report = setup.run(learner)
    loss, _ = setup.reference(detach=True)
    expect_tensor(report["value"], loss, setup.what, rtol=1e-5, atol=1e-6)


@points(1)
def test_bootstrap_gradients(learner, rng):
    """bootstrap_loss sends gradients through model(x) only: the target is a constant"""
    setup = BootstrapSetup(rng)
    report = setup.run(learner)
    with context(setup.what):
        expect(
            report["type"] == "torch.Tensor",
            f"should return the loss as a torch.Tensor (the caller calls backward on it), "
            f"got {report['type']}",
        )
        expect(
            report["requires_grad"],
            "the loss does not require grad, so no gradient can reach the model: only the "
            "target should be cut out of the graph, not model(x)",
        )
        expect(
            not report["grads_before"] and report["grad_error"] is None,
            "bootstrap_loss ran backward itself: return the loss, the caller calls backward",
        )
        expect(report["grads"] is not None, "the loss should be a 0-dim tensor (a mean)")
    _, want = setup.reference(detach=True)
    _, through_target = setup.reference(detach=False)
    grads = observed(report["grads"], dict, *want)
    diagnosis = (
        TARGET_NOT_DETACHED
        if all(close(grads[n], g, rtol=1e-4, atol=1e-6) for n, g in through_target.items())
        else None
    )
    for name, expected in want.items():
        with context(setup.what):
            expect(grads[name] is not None, f"no gradient reached parameter {name}")
        expect_tensor(
            grads[name],
            expected,
            f"{setup.what}: the gradient of {name}",
            rtol=1e-4,
            atol=1e-6,
            wrong={diagnosis: lambda _: True} if diagnosis else None,
        )


# ---------------------------------------------------------------- freeze


class FreezeSetup:
    """A Tower's sizes and prefix lists (as lists and tuples, one of them empty), with the
    flags and returned parameters each should give."""

    def __init__(self, rng: torch.Generator) -> None:
        self.sizes = distinct_sizes(rng, 3, 2, 7)  # d_in, hidden, d_out
        self.cases: list[list[str] | tuple[str, ...]] = [[]]
        for _ in range(3):
            count = size(rng, 1, 3)
            picked = torch.randperm(len(FREEZE_PREFIXES), generator=rng)[:count]
            prefixes = [FREEZE_PREFIXES[i] for i in picked]
            self.cases.append(prefixes if size(rng, 0, 1) else tuple(prefixes))
        named = list(build_tower(self.sizes).named_parameters())
        self.names = [name for name, _ in named]
        self.before = {name: p.requires_grad for name, p in named}

    def flags(self, prefixes: list[str] | tuple[str, ...]) -> dict[str, bool]:
        return {n: self.before[n] and not n.startswith(tuple(prefixes)) for n in self.names}

    def run(self, learner: Any) -> list[dict[str, Any]]:
        seen = learner.scenario("freeze_cases", self.sizes, self.cases)
        return observed(seen, list, "outcome", "flags", length=len(self.cases))


def _freeze_call(prefixes: list[str] | tuple[str, ...]) -> str:
    return f"freeze(model, {prefixes!r})"


@points(1)
def test_freeze_flags(learner, rng):
    """freeze switches off requires_grad of the parameters whose names start with a prefix"""
    setup = FreezeSetup(rng)
    for prefixes, report in zip(setup.cases, setup.run(learner), strict=True):
        what = _freeze_call(prefixes)
        case_value(report["outcome"], what)
        flags = observed(report["flags"], dict, *setup.names)
        want = setup.flags(prefixes)
        with context(what):
            thawed = [n for n in setup.names if flags[n] and not setup.before[n]]
            expect(
                not thawed,
                f"made {', '.join(thawed)} trainable again: frozen before freeze was called, "
                "and freeze only freezes",
            )
            trainable = [n for n in setup.names if flags[n] and not want[n]]
            if trainable:
                fail(
                    f"left {', '.join(trainable)} trainable (requires_grad True)",
                    NOTHING_FROZEN if flags == setup.before else None,
                )
            frozen = [n for n in setup.names if want[n] and not flags[n]]
            expect(not frozen, f"froze {', '.join(frozen)}, which start with none of the prefixes")


@points(1)
def test_freeze_returns_trainable(learner, rng):
    """freeze returns the model's still-trainable parameters, in parameters() order"""
    setup = FreezeSetup(rng)
    for prefixes, report in zip(setup.cases, setup.run(learner), strict=True):
        what = _freeze_call(prefixes)
        got = observed(case_value(report["outcome"], what), dict, "type", "indices", "types")
        want = [i for i, trainable in enumerate(setup.flags(prefixes).values()) if trainable]
        with context(what):
            expect(got["type"] in ("list", "tuple"), f"should return a list, got {got['type']}")
            for k, (index, kind) in enumerate(zip(got["indices"], got["types"], strict=True)):
                expect(
                    index is not None,
                    f"item {k} of the result is a {kind}, not one of the model's own parameters "
                    "(a copy, or a detached tensor?): return the Parameter objects themselves",
                )
            if got["indices"] != want:
                got_names = ", ".join(setup.names[i] for i in got["indices"])
                want_names = ", ".join(setup.names[i] for i in want)
                fail(
                    f"returned [{got_names}], expected [{want_names}]: the parameters that still "
                    "require grad afterwards, in model.parameters() order"
                )


# ---------------------------------------------------------------- to_numpy


@points(1)
def test_to_numpy(learner, rng):
    """to_numpy returns a numpy array with the tensor's values and dtype, even one requiring grad"""
    n, m = distinct_sizes(rng, 2, 2, 7)
    bases = [
        torch.randn(n, m, generator=rng),
        torch.randn(n, m, generator=rng),
        torch.randn(n, m, generator=rng, dtype=torch.float64),
        torch.randint(-100, 100, (n, m), generator=rng, dtype=torch.int32),
    ]
    cases = [{"kind": kind, "base": base} for kind, base in zip(TO_NUMPY_KINDS, bases, strict=True)]
    reports = learner.scenario("to_numpy_cases", cases)
    reports = observed(reports, list, "outcome", "requires_grad_after", length=len(cases))
    for case, report in zip(cases, reports, strict=True):
        t = to_numpy_input(case["kind"], case["base"])
        dtype = str(t.dtype).removeprefix("torch.")
        what = f"to_numpy(t) for t {fmt_shape(t.shape)} {dtype}, {case['kind']}"
        with explain(NUMPY_REQUIRES_GRAD, when=NUMPY_REFUSED):
            got = observed(case_value(report["outcome"], what), dict, "type")
        with context(what):
            expect(
                got["type"] == "numpy.ndarray", f"should return a numpy.ndarray, got {got['type']}"
            )
            expect(
                got["dtype"] == dtype,
                f"the array should keep the tensor's dtype {dtype}, got {got['dtype']}",
            )
            expect(
                got["shape"] == list(t.shape),
                f"the array should have shape {fmt_shape(t.shape)}, got {fmt_shape(got['shape'])}",
            )
            expect(
                report["requires_grad_after"] is t.requires_grad,
                "switched off requires_grad of the caller's tensor: t.detach() gives a tensor "
                "without grad and leaves t as it was",
            )
        expect_tensor(got["values"], t.detach(), f"{what}: the array's values", rtol=0, atol=0)
